"""FakeClock: time that moves only when a test says so."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from api.clock import Clock


class FakeClock(Clock):
    """Starts at the real time; `advance()` moves wall and monotonic time together.

    With `database=True` it also hands its time to SQL (the rate limiter's refill), so a
    test can refill a bucket without waiting.
    """

    def __init__(self, *, database: bool = False) -> None:
        self._now = datetime.now(UTC)
        self._monotonic = time.monotonic()
        self._database = database
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def database_now(self) -> datetime | None:
        return self.now() if self._database else None

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds
