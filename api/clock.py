"""Clock: the time the API reads, injectable so tests move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time for expiries, a monotonic clock for caches."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def database_now(self) -> datetime | None:
        """The time to hand to SQL that must agree across processes; None means PostgreSQL's
        own `clock_timestamp()`, so every API process measures against one clock."""
        return None
