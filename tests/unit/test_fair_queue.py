"""FairQueue: senders take claimed deliveries round-robin across endpoints, never more than
an endpoint's limit at once; the rest wait in the endpoint's line, in claim order."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from delivery.slots import AHEAD, FairQueue, default_endpoint_concurrency


def test_round_robin_across_endpoints_within_each_limit() -> None:
    async def scenario() -> None:
        queue: FairQueue[str] = FairQueue(limit=2)
        busy, quiet = uuid4(), uuid4()
        for i in range(6):
            queue.put(busy, f"b{i}")
        queue.put(quiet, "q0")  # claimed after six of the busy endpoint's
        assert queue.claimed() == {busy: 6, quiet: 1}
        assert queue.allowance == AHEAD * 2
        taken = [await queue.get() for _ in range(3)]
        # The newcomer's delivery goes within one round, not after the busy backlog.
        assert taken == ["b0", "q0", "b1"]
        # The busy endpoint is at its limit: nothing more of it until one of its ends.
        assert queue.qsize() == 4
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        queue.finish(busy)
        assert await waiting == "b2"
        queue.finish(quiet)
        assert queue.claimed() == {busy: 5}
        assert queue.take_line(busy) == ["b3", "b4", "b5"]  # its circuit opened
        assert queue.empty()
        assert queue.claimed() == {busy: 2}  # the two still being sent

    asyncio.run(scenario())


def test_stopping_wakes_every_sender_and_gives_back_what_waits() -> None:
    async def scenario() -> None:
        queue: FairQueue[str] = FairQueue(limit=1)
        endpoint = uuid4()
        queue.put(endpoint, "a")
        queue.put(endpoint, "b")
        assert await queue.get() == "a"
        senders = [asyncio.ensure_future(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        assert list(queue.drain()) == ["b"]
        queue.stop(3)
        assert await asyncio.gather(*senders) == [None, None, None]

    asyncio.run(scenario())


def test_finished_counts_only_what_was_sent() -> None:
    async def scenario() -> None:
        queue: FairQueue[str] = FairQueue(limit=4)
        endpoint, other = uuid4(), uuid4()
        for item in ("a", "b", "c"):
            queue.put(endpoint, item)
        queue.put(other, "d")
        for _ in range(4):
            await queue.get()
        queue.finish(endpoint)
        queue.finish(endpoint)
        queue.finish(endpoint, sent=False)  # given back unsent: its place is free all the same
        queue.finish(other)
        assert queue.claimed() == {}
        assert queue.take_finished() == {endpoint: 2, other: 1}
        assert queue.take_finished() == {}  # counted afresh after each take

    asyncio.run(scenario())


def test_the_default_limit_is_a_quarter_of_the_senders() -> None:
    assert default_endpoint_concurrency(32) == 8
    assert default_endpoint_concurrency(2) == 1
