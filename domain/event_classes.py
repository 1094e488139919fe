"""Answers about an event that depend on its class only, computed once per class.

Projections ask of every event of the log which kind it is, and most events are of the few
record classes that only some projections care about. An `isinstance` check against a
union of classes, or a name parsed from `__qualname__`, costs several times the dictionary
lookup that replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_ANSWERS: list[dict[type, Any]] = []


def per_class(answer: Callable[[type], T]) -> Callable[[Any], T]:
    """`event -> answer(type(event))`, with each class's answer remembered."""
    answers: dict[type, T] = {}
    _ANSWERS.append(answers)

    def ask(event: Any) -> T:
        kind = type(event)
        try:
            return answers[kind]
        except KeyError:
            found = answers[kind] = answer(kind)
            return found

    return ask


def instance_of(*classes: type) -> Callable[[Any], bool]:
    """`isinstance(event, classes)`, answered once per event class."""
    return per_class(lambda kind: issubclass(kind, classes))


def forget_answers() -> None:
    """Forget every remembered answer (the resource registry changed)."""
    for answers in _ANSWERS:
        answers.clear()
