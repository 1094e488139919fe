"""FakeClock: time that moves when a test says so."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from api.clock import Clock


class FakeClock(Clock):
    """Starts at the real time; `advance()` moves wall and monotonic time together.

    Frozen by default. With `ticking=True` it keeps following the real time, plus what the
    test advanced (a worker's retries and leases still run while the test skips days).
    With `database=True` it also hands its time to SQL (the rate limiter's refill), so a
    test can refill a bucket without waiting. Calling the clock gives `now()`: it is the
    delivery worker's and jobs' `now`.
    """

    def __init__(self, *, ticking: bool = False, database: bool = False) -> None:
        self._now = datetime.now(UTC)
        self._monotonic = time.monotonic()
        self._offset = timedelta()
        self._ticking = ticking
        self._database = database
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return (datetime.now(UTC) if self._ticking else self._now) + self._offset

    def monotonic(self) -> float:
        with self._lock:
            base = time.monotonic() if self._ticking else self._monotonic
            return base + self._offset.total_seconds()

    def __call__(self) -> datetime:
        return self.now()

    def database_now(self) -> datetime | None:
        return self.now() if self._database else None

    def advance(self, seconds: float = 0.0, **units: float) -> None:
        """Move on by `seconds` and any `timedelta` units (`days=5`)."""
        with self._lock:
            self._offset += timedelta(seconds=seconds, **units)
