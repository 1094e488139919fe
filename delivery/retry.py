"""RetrySchedule: when to try a failed delivery again, and when to give up (pure)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# Seconds to wait before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
STANDARD_DELAYS = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
MAX_RETRY_AFTER = 86400.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks for (delay-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


@dataclass(frozen=True)
class RetrySchedule:
    """The delivery schedule: `delays[n]` seconds before attempt n+1, each with ±`jitter`.

    After the last attempt fails the delivery is given up. A `Retry-After` from the endpoint
    is honoured by never retrying sooner than it asks (capped at `max_retry_after`).
    """

    delays: tuple[float, ...] = STANDARD_DELAYS
    jitter: float = 0.2
    max_retry_after: float = MAX_RETRY_AFTER

    @property
    def max_attempts(self) -> int:
        return len(self.delays)

    def next_delay(
        self,
        attempts_made: int,
        *,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds until the next attempt after `attempts_made` failed ones; None: give up."""
        if attempts_made >= self.max_attempts:
            return None
        base = self.delays[attempts_made]
        delay = base * (1 + self.jitter * (2 * rand() - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def retry_at(
        self,
        attempts_made: int,
        finished_at: datetime,
        *,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> datetime | None:
        """When to try again after `attempts_made` failed attempts, the last of which ended
        at `finished_at`; None: give up. The delay counts from the end of the failed
        attempt, so a timeout is followed by the whole delay, not by what is left of it."""
        delay = self.next_delay(attempts_made, retry_after=retry_after, rand=rand)
        return None if delay is None else finished_at + timedelta(seconds=delay)
