"""EventClasses: `isinstance(event, classes)` answered once per event class.

Projections ask which kind an event is for every event of the log, and most events are of
the few record classes no projection but two cares about. An `isinstance` check against a
union of classes costs about as much as the dictionary lookup that replaces it several
times over; the answer depends on the event's class only.
"""

from __future__ import annotations

from typing import Any


class EventClasses:
    """Whether an event is an instance of any of `classes` (subclasses included)."""

    def __init__(self, *classes: type) -> None:
        self.classes = classes
        self._answers: dict[type, bool] = {}

    def __call__(self, event: Any) -> bool:
        kind = type(event)
        answer = self._answers.get(kind)
        if answer is None:
            answer = self._answers[kind] = issubclass(kind, self.classes)
        return answer
