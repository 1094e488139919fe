"""DeliveryWorker: claims due deliveries, has them sent, settles every attempt, schedules
retries.

Any number of workers (threads or processes) may run: they claim queues with
`FOR UPDATE SKIP LOCKED` and lease them for longer than a request may take, so a worker
killed mid-request loses nothing; its deliveries are sent again when the lease runs out
(at-least-once). Each worker keeps one HTTP session (`delivery.sender`) and `concurrency`
senders, at most `endpoint_concurrency` of their requests to one endpoint
(`delivery.slots`); a sender whose request is slow is replaced (`delivery.senders`). It
claims fairly across endpoints, skips those whose circuit breaker is open, and wakes on
NOTIFY with a polling fallback. Everything it reads and writes goes through the queue's
gateway (`delivery.queue.DeliveryQueue`). A 410 is reported to `on_gone` (the composition
root disables the webhook there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg

from delivery.ahead import ClaimAhead
from delivery.event_loop import event_loop_factory
from delivery.outcome import GONE
from delivery.queue import BreakerPolicy, Claim, DeliveryQueue
from delivery.retry import RetrySchedule
from delivery.secret_box import SecretBox
from delivery.sender import Attempt, Sender
from delivery.senders import Senders
from delivery.settlement import settlement
from delivery.slots import FairQueue, default_endpoint_concurrency
from projections.connection import connection_lost

log = logging.getLogger(__name__)

# After a lost connection the worker reconnects after RECONNECT_DELAY, doubling only while
# reconnecting keeps failing (the server is down), up to MAX_RECONNECT_DELAY.
RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 5.0

# Told of a 410: (tenant id, webhook id).
OnGone = Callable[[UUID, UUID], object]


def utcnow() -> datetime:
    return datetime.now(UTC)


# A claim made because deliveries were enqueued takes at least this many.
FRESH_CLAIM = 8
# A request that has taken this long no longer holds a sender (DeliveryWorker.slow_after).
SLOW_AFTER = 1.0

# Claimed deliveries waiting for a sender, with the time by which they must start.
Ready = FairQueue[tuple[Claim, float]]


class DeliveryWorker:
    """Sends deliveries until `stop()`: `run()` blocks (start it in a thread)."""

    def __init__(
        self,
        conninfo: str,
        *,
        secret_box: SecretBox,
        on_gone: OnGone,
        allow_private: bool = False,
        schedule: RetrySchedule | None = None,
        now: Callable[[], datetime] = utcnow,
        concurrency: int = 32,
        endpoint_concurrency: int | None = None,
        breaker: BreakerPolicy | None = None,
        timeout: float = 10.0,
        slow_after: float = SLOW_AFTER,
        poll_interval: float = 1.0,
        linger: float = 0.01,
        batch: int | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.conninfo = conninfo
        self.on_gone = on_gone
        self.secret_box = secret_box
        self.allow_private = allow_private
        self.schedule = schedule or RetrySchedule()
        self.now = now
        self.concurrency = concurrency
        # One endpoint's share of the senders: by default a quarter of them.
        self.endpoint_concurrency = endpoint_concurrency or default_endpoint_concurrency(
            concurrency
        )
        self.breaker = breaker or BreakerPolicy()
        self.timeout = timeout
        self.slow_after = slow_after
        # The lease must outlast a request, or a slow endpoint would be sent a duplicate.
        self.lease = timedelta(seconds=timeout + max(1.0, timeout / 2))
        self.poll_interval = poll_interval
        self.linger = linger
        # Claims and settlements are made this many at a time: each costs a round trip and a
        # fixed share of Python and SQL work however many rows it carries.
        self.batch = batch or 2 * concurrency
        self.rand = rand
        self.started = threading.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._senders = Senders(concurrency, slow_after)  # a new set for each _serve
        self._enqueued = False  # NOTIFY heard since the last claim
        self._short_claim = False  # the last claim got fewer than it asked for
        self._sent_since_claim = 0
        # Claimed deliveries waiting for a sender, by endpoint (`delivery.slots`), and how
        # many to claim ahead (`delivery.ahead`): new ones for each _serve.
        self._ready: Ready = FairQueue(self.endpoint_concurrency)
        self._ahead = ClaimAhead(self.batch, self._ready.allowance)
        # Endpoints whose circuit a settle of ours opened, until we claim of them again (a
        # probe): what we claimed of them and have not sent is given back, unsent.
        self._held: set[UUID] = set()
        self._given_back: list[Claim] = []

    # -- lifecycle --------------------------------------------------------------------------
    def run(self) -> None:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(self._main())

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        """Look for due deliveries now (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self._stopping:
            try:
                await self._serve()
            except Exception:
                # Whatever was in flight stays leased and is sent again when the lease ends.
                log.exception("delivery worker failed; restarting in 1 s")
                await asyncio.sleep(1.0)

    async def _serve(self) -> None:
        sender = Sender(
            self.secret_box,
            now=self.now,
            timeout=self.timeout,
            # Connections for every sender and for as many slow requests beside them.
            concurrency=2 * self.concurrency,
            allow_private=self.allow_private,
        )
        sender.open()
        ready: Ready = FairQueue(self.endpoint_concurrency)
        self._ready = ready
        self._ahead = ClaimAhead(self.batch, ready.allowance)
        done: list[Attempt] = []
        self._held.clear()
        self._given_back.clear()
        senders = self._senders = Senders(self.concurrency, self.slow_after)
        senders.start(lambda: self._sender(sender, ready, done))
        try:
            queue = await self._connected(ready, done)
            if queue is None:  # stopped while the database was unreachable
                return
            try:
                # Stopping: finish what is in flight, hand back what was claimed but not sent.
                unsent = [claim for claim, _ in ready.drain()]
                senders.stop_replacing()
                ready.stop(senders.serving)  # the replaced ones stop on their own
                if senders.tasks:
                    await asyncio.wait(list(senders.tasks), timeout=self.timeout + 1)
                await self._settle(queue, done[:], unsent)
            finally:
                await queue.close()
        finally:
            senders.cancel()
            await sender.close()

    async def _connected(self, ready: Ready, done: list[Attempt]) -> DeliveryQueue | None:
        """Claim and settle on a connection of the queue's until `stop()`; answer it, open.

        A lost connection (a terminated backend, a server restart) is replaced at once,
        and the senders carry on meanwhile: what they finish is settled on the new
        connection, and what was claimed is still leased to this worker. Only a batch whose
        settle or claim was cut off is left to its lease (sent again when it ends).
        Reconnecting waits RECONNECT_DELAY, doubling while it keeps failing."""
        delay = RECONNECT_DELAY
        while not self._stopping:
            try:
                queue = await DeliveryQueue.connect(self.conninfo)
            except Exception as exc:
                if not connection_lost(exc):
                    raise
                delay = await self._reconnect_pause("cannot reach the database", exc, delay)
                continue
            delay = RECONNECT_DELAY
            listening = asyncio.create_task(self._listen(queue))
            try:
                self.started.set()
                await self._coordinate(queue, ready, done, listening)
                return queue
            except Exception as exc:
                await queue.close()
                if not connection_lost(exc):
                    raise
                delay = await self._reconnect_pause("lost its database connection", exc, delay)
            finally:
                listening.cancel()
        return None

    async def _reconnect_pause(self, what: str, exc: BaseException, delay: float) -> float:
        log.warning(
            f"delivery worker {what}; reconnecting",
            extra={"error": str(exc), "retry_in_seconds": delay},
        )
        await asyncio.sleep(delay)
        return min(delay * 2, MAX_RECONNECT_DELAY)

    async def _sender(self, sender: Sender, ready: Ready, done: list[Attempt]) -> None:
        """One of the senders (`delivery.senders`): send claimed deliveries one after
        another, as the fair queue hands them out (round-robin across endpoints, each within
        its in-flight limit), until told to stop, or replaced while a request was slow."""
        assert self._wake is not None
        me, senders = asyncio.current_task(), self._senders
        assert me is not None
        while (item := await ready.get()) is not None:
            claim, start_by = item
            endpoint = claim.subscription_id
            if time.monotonic() > start_by:
                # Waited so long its lease could end mid-request: let the lease run out and
                # the queue be claimed afresh, rather than risk two workers sending it.
                ready.finish(endpoint, sent=False)
                self._wake.set()  # room to claim again
                continue
            if endpoint in self._held:  # its circuit opened since the claim: no attempt
                ready.finish(endpoint, sent=False)
                self._given_back.append(claim)
                continue
            senders.begin(me)
            try:
                done.append(await sender.send(claim))
            except Exception:  # a bug; the lease ends and the delivery is sent again
                log.exception("sending a delivery failed unexpectedly")
            finally:
                retiring = senders.end(me)  # slow: a sender took its place meanwhile
                self._sent_since_claim += 1
                ready.finish(endpoint)
                if self._coordinator_wanted(ready, len(done)):
                    self._wake.set()
            if retiring:
                return

    def _coordinator_wanted(self, ready: Ready, finished: int) -> bool:
        """Whether a finished send gives the coordinator something to do now: a first result
        (it starts the linger), a full batch to settle, room for a full batch of claims, or
        nothing left in flight. Waking it after every send cost a loop turn per delivery."""
        waiting = ready.qsize()
        return (
            finished == 1
            or finished >= self.batch
            or (self._wanted(waiting) >= self.batch and self._claim_due())
            or (self._senders.busy == 0 and waiting == 0)
        )

    def _claim_due(self) -> bool:
        """Whether claiming is worth a round trip: after a claim that came back short (the
        endpoints' allowances, not the senders, were the limit), only once a few sends
        have finished since; else every finished send would make a claim of one or two."""
        return not self._short_claim or self._sent_since_claim >= self.batch // 4

    def _wanted(self, waiting: int) -> int:
        """How many more deliveries to claim: enough for every sender and two to four
        batches ahead (`delivery.ahead`), so a batch is still waiting while the next is
        being claimed."""
        return self.concurrency + self._ahead.total() - self._senders.busy - waiting

    async def _coordinate(
        self,
        queue: DeliveryQueue,
        ready: Ready,
        done: list[Attempt],
        listening: asyncio.Task[None] | None = None,
    ) -> None:
        """Settle finished sends and claim more, in batches, until `stop()`.

        Claims run ahead of the senders (two to four batches waiting, `delivery.ahead`), so
        a free sender never waits for a database round trip. Under load those round trips
        are amortised: results are settled once a batch of sends has finished (or
        `linger` after the first did), and more is claimed once a batch is wanted. With
        nothing in flight both happen at once, so a lone event is not delayed.

        When `listening` ends (its session was lost) this raises, so the worker reconnects
        at once instead of polling without NOTIFY.
        """
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        batch_size = self.batch
        linger_until: float | None = None
        while not self._stopping:
            self._wake.clear()
            if listening is not None and listening.done():
                listening.result()  # raises the listener's error
                raise psycopg.OperationalError("the listening session ended")
            idle = self._senders.busy == 0 and ready.empty()
            if done:
                linger_until = linger_until or loop.time() + self.linger
                if len(done) >= batch_size or idle or loop.time() >= linger_until:
                    batch = done[:]
                    done.clear()  # the same list the senders append to
                    linger_until = None
                    await self._settle(queue, batch)
            wanted = self._wanted(ready.qsize())
            # New deliveries were enqueued: claim at once even when busy (a few, least
            # recently served endpoints first), so a quiet endpoint's event does not wait
            # for the busy ones' claimed deliveries to drain below a batch.
            fresh, self._enqueued = self._enqueued, False
            if (wanted >= batch_size and self._claim_due()) or idle or fresh:
                start_by = time.monotonic() + self.lease.total_seconds() - self.timeout
                asked = max(wanted, FRESH_CLAIM)
                claims = await self._claim(queue, asked)
                self._short_claim, self._sent_since_claim = len(claims) < asked, 0
                for claim in claims:
                    ready.put(claim.subscription_id, (claim, start_by))
            timeout = self.poll_interval
            if linger_until is not None:
                timeout = max(0.0, linger_until - loop.time())
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                if not self._wake.is_set():  # a timer ran out: look for due work again
                    self._short_claim = False

    async def _listen(self, queue: DeliveryQueue) -> None:
        assert self._wake is not None
        try:
            async for _ in queue.enqueued():
                self._enqueued = True
                self._wake.set()
        finally:
            self._wake.set()  # ended (the session was lost): the coordinator reconnects

    # -- claim and settle -------------------------------------------------------------------
    async def _claim(self, queue: DeliveryQueue, limit: int) -> list[Claim]:
        """Claim up to `limit` due deliveries, fairly across endpoints, each endpoint
        within its allowance (four times its in-flight limit, or more when it answers fast:
        `delivery.ahead`), less what this worker has claimed of it and not finished."""
        now = self.now()
        self._ahead.observe(self._ready.take_finished(), time.monotonic())
        claims = await queue.claim(
            now=now,
            lease_until=now + self.lease,
            limit=limit,
            per_endpoint=self._ready.allowance,
            busy=self._ready.claimed(),
            share=self.endpoint_concurrency,
            allowances=self._ahead.allowances(),
        )
        empty = [c for c in claims if c.delivery_id is None]
        if empty:
            # A queue emptied by a cancellation: settling nothing drops it.
            await self._settle(queue, [], empty)
        claimed = [c for c in claims if c.delivery_id is not None]
        for c in claimed:
            self._held.discard(c.subscription_id)  # a half-open probe
        return claimed

    async def _settle(
        self, queue: DeliveryQueue, attempts: list[Attempt], empty: Sequence[Claim] = ()
    ) -> None:
        """Record a batch of attempts and move their queues on (or retry them later), in one
        transaction, and step the endpoints' circuit breakers; `empty` queues (their
        deliveries were cancelled) are dropped, and deliveries given back unsent (their
        endpoint's circuit opened) released. A 410 is then reported to `on_gone`, which
        disables the webhook."""
        now = self.now()
        empty = [*empty, *self._given_back]
        self._given_back.clear()
        rows = settlement(attempts, empty, now=now, schedule=self.schedule, rand=self.rand)
        opened = await queue.settle(
            rows.results, rows.health, rows.metrics, rows.breaker, now=now, policy=self.breaker
        )
        for endpoint in opened:
            self._held.add(endpoint)
            self._given_back += [claim for claim, _ in self._ready.take_line(endpoint)]
        for a in attempts:
            if a.outcome == GONE and a.claim.tenant_id is not None:
                await asyncio.to_thread(self.on_gone, a.claim.tenant_id, a.claim.subscription_id)
