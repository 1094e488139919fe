"""The load-change-save retry every command that changes an aggregate runs in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")
CONFLICT_RETRIES = 5


def retrying_conflicts(attempt: Callable[[], T]) -> T:
    """Run a load-change-save `attempt`, again (up to CONFLICT_RETRIES times in all) while a
    concurrent save to the same aggregate gets there first. `attempt` must load afresh."""
    for remaining in reversed(range(CONFLICT_RETRIES)):
        try:
            return attempt()
        except IntegrityError:
            if not remaining:
                raise
    raise AssertionError("unreachable")
