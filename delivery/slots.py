"""FairQueue: one worker's claimed deliveries waiting for a sender, by endpoint.

Senders take them round-robin across endpoints, and never more than `limit` of one
endpoint's at once: a delivery whose endpoint is at its limit waits in that endpoint's line
without holding a sender, and a newcomer's delivery is taken within one round, however many
other endpoints' deliveries were claimed before it. Deliveries are claimed ahead of the
senders (so a free sender never waits for a database round trip), at most `ahead` times
`limit` per endpoint not yet finished (`allowance`, less `claimed`), or more for an endpoint
that answers fast (`delivery.ahead`, from what `take_finished` counts).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterator
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

AHEAD = 4  # claimed per endpoint, at most, in multiples of its limit


def default_endpoint_concurrency(concurrency: int) -> int:
    """The in-flight limit of one endpoint when none is set: a quarter of the senders."""
    return max(1, concurrency // 4)


class FairQueue(Generic[T]):
    def __init__(self, limit: int, ahead: int = AHEAD) -> None:
        self.limit = limit
        self.allowance = ahead * limit  # what the claim may hold per endpoint
        self.sending: Counter[UUID] = Counter()  # taken by a sender, not finished
        self.finished: Counter[UUID] = Counter()  # finished since `take_finished`
        self._lines: dict[UUID, deque[T]] = {}
        self._turns: deque[UUID] = deque()  # endpoints with a line, in round-robin order
        self._waiting = 0
        self._stops = 0
        self._getters: deque[asyncio.Future[None]] = deque()

    # -- the coordinator's side ---------------------------------------------------------------
    def put(self, endpoint: UUID, item: T) -> None:
        line = self._lines.get(endpoint)
        if line is None:
            line = self._lines[endpoint] = deque()
            self._turns.append(endpoint)
        line.append(item)
        self._waiting += 1
        if self.sending[endpoint] < self.limit:
            self._wake_one()

    def claimed(self) -> dict[UUID, int]:
        """Per endpoint: claimed and not finished (waiting or being sent)."""
        counts = Counter(self.sending)
        for endpoint, line in self._lines.items():
            counts[endpoint] += len(line)
        return dict(counts)

    def take_finished(self) -> Counter[UUID]:
        """Per endpoint: finished since the last call (its rate, for `delivery.ahead`)."""
        finished, self.finished = self.finished, Counter()
        return finished

    def qsize(self) -> int:
        """Deliveries waiting for a sender."""
        return self._waiting

    def empty(self) -> bool:
        return self._waiting == 0

    def take_line(self, endpoint: UUID) -> list[T]:
        """Everything waiting for the endpoint, taken back unsent (its circuit opened)."""
        line = self._lines.pop(endpoint, None)
        if line is None:
            return []
        self._turns.remove(endpoint)
        self._waiting -= len(line)
        return list(line)

    def drain(self) -> Iterator[T]:
        """Everything still waiting (stopping: it is given back)."""
        for endpoint in list(self._lines):
            yield from self.take_line(endpoint)

    def stop(self, senders: int) -> None:
        """Each of `senders` gets None from its next `get()`."""
        self._stops += senders
        for getter in self._getters:
            if not getter.done():
                getter.set_result(None)
        self._getters.clear()

    # -- the senders' side --------------------------------------------------------------------
    async def get(self) -> T | None:
        """The next delivery to send, round-robin across endpoints with room (counted as
        sending until `finish`); None: stop."""
        while True:
            if self._stops:
                self._stops -= 1
                return None
            item = self._take()
            if item is not None:
                return item
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter in self._getters:
                    self._getters.remove(getter)
                raise

    def finish(self, endpoint: UUID, *, sent: bool = True) -> None:
        """A delivery taken by `get` is done with (sent, or given back unsent: `sent=False`):
        its place is free."""
        if sent:
            self.finished[endpoint] += 1
        left = self.sending[endpoint] - 1
        if left > 0:
            self.sending[endpoint] = left
        else:
            self.sending.pop(endpoint, None)
        if endpoint in self._lines:
            self._wake_one()

    def _take(self) -> T | None:
        for _ in range(len(self._turns)):
            endpoint = self._turns[0]
            self._turns.rotate(-1)  # its turn is over, whether it had room or not
            if self.sending[endpoint] >= self.limit:
                continue
            line = self._lines[endpoint]
            item = line.popleft()
            if not line:
                del self._lines[endpoint]
                self._turns.pop()  # it was just rotated to the back
            self._waiting -= 1
            self.sending[endpoint] += 1
            return item
        return None

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return
