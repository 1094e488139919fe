"""The load-change-save retry every command that changes an aggregate runs in."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")
CONFLICT_RETRIES = 7
# Before each retry, a random pause of up to BACKOFF seconds, doubling (at most 0.25 s in
# all): writers that lost to each other would otherwise all reload and save again at once,
# and lose again (docs/architecture.md has the measurements).
BACKOFF = 0.004


def retrying_conflicts(
    attempt: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run a load-change-save `attempt`, again (up to CONFLICT_RETRIES times in all, after
    a random pause of up to BACKOFF seconds, doubling) while a concurrent save to the same
    aggregate gets there first. `attempt` must load afresh."""
    for tried in range(CONFLICT_RETRIES):
        try:
            return attempt()
        except IntegrityError:
            if tried == CONFLICT_RETRIES - 1:
                raise
        sleep(rand() * BACKOFF * 2**tried)
    raise AssertionError("unreachable")
