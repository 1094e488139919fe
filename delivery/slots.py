"""EndpointSlots: one worker's per-endpoint bookkeeping for fair delivery.

An endpoint never has more than `limit` of this worker's requests in flight. Deliveries
are claimed ahead of the senders (so a free sender never waits for a database round trip),
at most `ahead` times `limit` per endpoint not yet finished; a claimed delivery whose endpoint
is at its limit waits in that endpoint's line (not holding a sender), and the sender that
finishes one of the endpoint's requests sends the next in line.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

AHEAD = 2  # claimed per endpoint, at most, in multiples of its limit


def default_endpoint_concurrency(concurrency: int) -> int:
    """The in-flight limit of one endpoint when none is set: a quarter of the senders."""
    return max(1, concurrency // 4)


class EndpointSlots(Generic[T]):
    def __init__(self, limit: int, ahead: int = AHEAD) -> None:
        self.limit = limit
        self.allowance = ahead * limit  # what the claim may hold per endpoint
        self.claimed: Counter[UUID] = Counter()  # claimed and not finished
        self.sending: Counter[UUID] = Counter()  # requests in flight
        self._lines: dict[UUID, deque[T]] = {}

    def claimed_one(self, endpoint: UUID) -> None:
        self.claimed[endpoint] += 1

    def start(self, endpoint: UUID, item: T) -> bool:
        """Whether `item` may be sent now (counted as in flight); if not, it waits in its
        endpoint's line."""
        if self.sending[endpoint] < self.limit:
            self.sending[endpoint] += 1
            return True
        self._lines.setdefault(endpoint, deque()).append(item)
        return False

    def finish(self, endpoint: UUID) -> None:
        """A request ended: its place is free, and the delivery done with."""
        _decrement(self.sending, endpoint)
        self.drop(endpoint)

    def next_in_line(self, endpoint: UUID) -> T | None:
        """The endpoint's next waiting item, if it has room for it now."""
        line = self._lines.get(endpoint)
        if not line or self.sending[endpoint] >= self.limit:
            return None
        item = line.popleft()
        if not line:
            del self._lines[endpoint]
        return item

    def drop(self, endpoint: UUID) -> None:
        """A claimed delivery is done with (sent, or given back unsent)."""
        _decrement(self.claimed, endpoint)

    def take_line(self, endpoint: UUID) -> list[T]:
        """Everything in the endpoint's line, given back unsent (its circuit opened)."""
        line = self._lines.pop(endpoint, deque())
        for _ in line:
            self.drop(endpoint)
        return list(line)

    def drain(self) -> Iterator[T]:
        """Every item still in a line (stopping: they are given back)."""
        for line in self._lines.values():
            yield from line
        self._lines.clear()


def _decrement(counts: Counter[UUID], key: UUID) -> None:
    left = counts[key] - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
