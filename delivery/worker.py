"""DeliveryWorker: claims due deliveries, POSTs them signed, records and settles every attempt.

Any number of workers (threads or processes) may run: they claim queues with
`FOR UPDATE SKIP LOCKED` and lease them for longer than a request may take, so a worker
killed mid-request loses nothing; its deliveries are sent again when the lease runs out
(at-least-once). Each worker keeps one aiohttp session (keep-alive connection reuse) and up
to `concurrency` requests in flight, and wakes on NOTIFY with a polling fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any
from uuid import UUID

import aiohttp
import msgspec
import psycopg
from psycopg import sql

from delivery import metrics
from delivery.outbox import CLAIM, DELIVERY_CHANNEL, SETTLE_CALL
from delivery.retry import RetrySchedule, parse_retry_after
from delivery.secret_box import SecretBox, SecretUnavailableError
from delivery.signing import InvalidSecretError, signature_headers
from delivery.ssrf import ForbiddenTargetError, GuardedResolver, check_literal_url
from domain.application import Syncline
from domain.context import SYSTEM, Context

log = logging.getLogger(__name__)

USER_AGENT = f"Syncline-Webhooks/{version('syncline')}"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 500
_encoder = msgspec.json.Encoder()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Claim(msgspec.Struct, frozen=True):
    """A leased queue and its head delivery (None when the queue turned out empty).

    msgspec Structs, not dataclasses, for the per-delivery objects: a frozen dataclass
    spends microseconds in `__init__`, per delivery."""

    subscription_id: UUID
    entity_id: UUID
    delivery_id: int | None
    tenant_id: UUID | None
    event_id: str
    event_type: str
    correlation_id: str
    body: bytes
    attempts: int
    created_at: datetime | None
    url: str | None
    secret: str | None
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


class Attempt(msgspec.Struct, frozen=True):
    """What one POST of a delivery came to."""

    claim: Claim
    attempted_at: datetime
    outcome: str  # delivered | http_error | gone | timeout | connection_error | refused | ...
    latency: float
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


class Result(msgspec.Struct, omit_defaults=True):
    """One claimed queue's row of a settlement (`outbox.RESULTS`): its head's attempt, when
    it had one, and whether the queue moves on. Unset fields are left out of the JSON."""

    subscription_id: UUID
    entity_id: UUID
    moved_on: bool
    delivery_id: int | None = None
    attempted_at: datetime | None = None
    outcome: str | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    retry_at: datetime | None = None


# Claimed deliveries waiting for a sender, with the time by which they must start.
Ready = asyncio.Queue[tuple[Claim, float] | None]


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it comes with `uvicorn[standard]`), else asyncio's: it
    cuts the event loop's share of each request (timers, socket writes, polling)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on some platforms
        return None
    return uvloop.new_event_loop


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:MAX_ERROR_CHARS]


class DeliveryWorker:
    """Sends deliveries until `stop()`: `run()` blocks (start it in a thread)."""

    def __init__(
        self,
        app: Syncline,
        conninfo: str,
        *,
        secret_box: SecretBox,
        allow_private: bool = False,
        schedule: RetrySchedule | None = None,
        now: Callable[[], datetime] = utcnow,
        concurrency: int = 32,
        timeout: float = 10.0,
        poll_interval: float = 1.0,
        linger: float = 0.01,
        batch: int | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.app = app
        self.conninfo = conninfo
        self.secret_box = secret_box
        self.allow_private = allow_private
        self.schedule = schedule or RetrySchedule()
        self.now = now
        self.concurrency = concurrency
        self.timeout = timeout
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
        self._busy = 0  # senders in the middle of a request

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
        connector = aiohttp.TCPConnector(
            limit=self.concurrency,
            limit_per_host=0,
            keepalive_timeout=30,
            resolver=None if self.allow_private else GuardedResolver(),
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        listener = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        ready: Ready = asyncio.Queue()
        done: list[Attempt] = []
        self._busy = 0
        listening = asyncio.create_task(self._listen(listener))
        senders = [
            asyncio.create_task(self._sender(session, ready, done)) for _ in range(self.concurrency)
        ]
        try:
            self.started.set()
            await self._coordinate(conn, ready, done)
            # Stopping: finish what is in flight, hand back what was claimed but not sent.
            unsent = []
            while not ready.empty():
                item = ready.get_nowait()
                if item is not None:
                    unsent.append(item[0])
            for _ in senders:
                ready.put_nowait(None)
            await asyncio.wait(senders, timeout=self.timeout + 1)
            await self._settle(conn, done[:], unsent)
        finally:
            for task in (listening, *senders):
                task.cancel()
            await session.close()
            await conn.close()
            await listener.close()

    async def _sender(
        self, session: aiohttp.ClientSession, ready: Ready, done: list[Attempt]
    ) -> None:
        """One of `concurrency` coroutines: send claimed deliveries one after another."""
        assert self._wake is not None
        while (item := await ready.get()) is not None:
            claim, start_by = item
            if time.monotonic() > start_by:
                # Waited so long its lease could end mid-request: let the lease run out and
                # the queue be claimed afresh, rather than risk two workers sending it.
                continue
            self._busy += 1
            try:
                done.append(await self._send(session, claim))
            except Exception:  # a bug; the lease ends and the delivery is sent again
                log.exception("sending a delivery failed unexpectedly")
            finally:
                self._busy -= 1
                if self._coordinator_wanted(ready, len(done)):
                    self._wake.set()

    def _coordinator_wanted(self, ready: Ready, finished: int) -> bool:
        """Whether a finished send gives the coordinator something to do now: a first result
        (it starts the linger), a full batch to settle, room for a full batch of claims, or
        nothing left in flight. Waking it after every send cost a loop turn per delivery."""
        waiting = ready.qsize()
        return (
            finished == 1
            or finished >= self.batch
            or self._wanted(waiting) >= self.batch
            or (self._busy == 0 and waiting == 0)
        )

    def _wanted(self, waiting: int) -> int:
        """How many more deliveries to claim: enough for every sender and two batches ahead,
        so a batch is still waiting while the next is being claimed."""
        return self.concurrency + 2 * self.batch - self._busy - waiting

    async def _coordinate(
        self, conn: psycopg.AsyncConnection[Any], ready: Ready, done: list[Attempt]
    ) -> None:
        """Settle finished sends and claim more, in batches, until `stop()`.

        Claims run ahead of the senders (up to two batches waiting), so a free sender
        never waits for a database round trip. Under load those round trips are amortised:
        results are settled once a batch of sends has finished (or `linger` after the
        first did), and more is claimed once a batch is wanted. With nothing in flight
        both happen at once, so a lone event is not delayed.
        """
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        batch_size = self.batch
        linger_until: float | None = None
        while not self._stopping:
            self._wake.clear()
            idle = self._busy == 0 and ready.empty()
            if done:
                linger_until = linger_until or loop.time() + self.linger
                if len(done) >= batch_size or idle or loop.time() >= linger_until:
                    batch = done[:]
                    done.clear()  # the same list the senders append to
                    linger_until = None
                    await self._settle(conn, batch)
            wanted = self._wanted(ready.qsize())
            if wanted >= batch_size or idle:
                start_by = time.monotonic() + self.lease.total_seconds() - self.timeout
                for claim in await self._claim(conn, wanted):
                    ready.put_nowait((claim, start_by))
            timeout = self.poll_interval
            if linger_until is not None:
                timeout = max(0.0, linger_until - loop.time())
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(DELIVERY_CHANNEL)))
        async for _ in conn.notifies():
            assert self._wake is not None
            self._wake.set()

    # -- claim, send, settle ----------------------------------------------------------------
    async def _claim(self, conn: psycopg.AsyncConnection[Any], limit: int) -> list[Claim]:
        now = self.now()
        # One statement, so atomic on its own: no BEGIN/COMMIT round trips.
        # Binary results: bodies, ids and times load without parsing their text forms.
        cur = await conn.execute(
            CLAIM, {"now": now, "lease_until": now + self.lease, "limit": limit}, binary=True
        )
        rows = await cur.fetchall()
        claims = [Claim(*row) for row in rows]
        empty = [c for c in claims if c.delivery_id is None]
        if empty:
            # A queue emptied by a cancellation: settling nothing drops it.
            await self._settle(conn, [], empty)
        return [c for c in claims if c.delivery_id is not None]

    async def _send(self, session: aiohttp.ClientSession, claim: Claim) -> Attempt:
        attempted_at = self.now()
        started = time.perf_counter()

        def attempt(outcome: str, **details: Any) -> Attempt:
            return Attempt(claim, attempted_at, outcome, time.perf_counter() - started, **details)

        if claim.url is None or claim.secret is None:
            return attempt("refused", error="the webhook no longer exists")
        try:
            if not self.allow_private:
                check_literal_url(claim.url)
            secrets = [self.secret_box.open(claim.secret)]
            expires = claim.previous_secret_expires_at
            if claim.previous_secret and expires is not None and expires > attempted_at:
                # The old secret only adds a second signature during a rotation's grace
                # period; one sealed under a key this process no longer has must not stop
                # delivery signed with the current secret.
                with contextlib.suppress(SecretUnavailableError, InvalidSecretError):
                    secrets.append(self.secret_box.open(claim.previous_secret))
            headers = {
                "Content-Type": "application/json",
                "X-Event-Type": claim.event_type,
                "X-Correlation-ID": claim.correlation_id,
                **signature_headers(
                    secrets, claim.event_id, int(attempted_at.timestamp()), claim.body
                ),
            }
            async with session.post(
                claim.url, data=claim.body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                status = response.status
                retry_header = None if status < 300 else response.headers.get("Retry-After")
            retry_after = (
                None if retry_header is None else parse_retry_after(retry_header, self.now())
            )
        except ForbiddenTargetError as exc:
            return attempt("refused", error=_error_text(exc))
        except (SecretUnavailableError, InvalidSecretError) as exc:
            return attempt("unsignable", error=_error_text(exc))
        except TimeoutError:
            return attempt("timeout", error=f"no answer within {self.timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenTargetError):
                return attempt("refused", error=_error_text(exc.os_error))
            return attempt("connection_error", error=_error_text(exc))
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return attempt("connection_error", error=_error_text(exc))
        if 200 <= status < 300:
            return attempt("delivered", status_code=status)
        if status == 410:
            return attempt("gone", status_code=status, error="410 Gone: the webhook is disabled")
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        return attempt("http_error", status_code=status, error=error, retry_after=retry_after)

    def _retry_at(self, a: Attempt) -> datetime | None:
        """When to try the delivery again; None: it is delivered or given up (after its
        last retry, or a 410), and its queue moves on."""
        if a.outcome in ("delivered", "gone"):
            return None
        delay = self.schedule.next_delay(
            a.claim.attempts + 1, retry_after=a.retry_after, rand=self.rand
        )
        return None if delay is None else a.attempted_at + timedelta(seconds=delay)

    async def _settle(
        self,
        conn: psycopg.AsyncConnection[Any],
        attempts: list[Attempt],
        empty: Sequence[Claim] = (),
    ) -> None:
        """Record a batch of attempts and move their queues on (or retry them later), in one
        transaction; `empty` queues (their deliveries were cancelled) are dropped."""
        now = self.now()
        results = [Result(c.subscription_id, c.entity_id, moved_on=True) for c in empty]
        for a in attempts:
            retry_at = self._retry_at(a)
            results.append(
                Result(
                    a.claim.subscription_id,
                    a.claim.entity_id,
                    retry_at is None,
                    a.claim.delivery_id,
                    a.attempted_at,
                    a.outcome,
                    a.status_code,
                    round(a.latency * 1000, 3),
                    a.error,
                    retry_at,
                )
            )
        params = {
            "results": _json(results),
            "health": _json(endpoint_health(attempts)),
            "metrics": _json(
                metrics.increment_rows(
                    metrics.increments(
                        [a.outcome for a in attempts],
                        [a.latency for a in attempts],
                        [
                            (now - a.claim.created_at).total_seconds()
                            for a in attempts
                            if a.outcome == "delivered" and a.claim.created_at is not None
                        ],
                    )
                )
            ),
        }
        for attempt in range(3):
            try:
                # One statement in autocommit: one round trip, no BEGIN or COMMIT.
                await conn.execute(SETTLE_CALL, params)
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == 2:
                    raise
        for a in attempts:
            if a.outcome == "gone" and a.claim.tenant_id is not None:
                ctx = Context(a.claim.tenant_id, SYSTEM, uuid.uuid4().hex)
                await asyncio.to_thread(
                    self.app.disable_webhook, ctx, a.claim.subscription_id, "gone"
                )


def _json(value: Any) -> str:
    return _encoder.encode(value).decode()


def endpoint_health(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """Per endpoint: since when it has been failing (None after a success), last outcomes."""
    health: dict[UUID, dict[str, Any]] = {}
    for a in sorted(attempts, key=lambda a: a.attempted_at):
        row = health.setdefault(
            a.claim.subscription_id,
            {
                "subscription_id": a.claim.subscription_id,
                "failing_since": None,
                "last_success_at": None,
                "last_failure_at": None,
            },
        )
        if a.outcome == "delivered":
            row["failing_since"] = None
            row["last_success_at"] = a.attempted_at
        else:
            row["failing_since"] = row["failing_since"] or a.attempted_at
            row["last_failure_at"] = a.attempted_at
    return list(health.values())
