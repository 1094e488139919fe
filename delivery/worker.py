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
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any
from uuid import UUID

import aiohttp
import psycopg
from psycopg import sql

from delivery import metrics
from delivery.outbox import (
    CLAIM,
    DELIVERY_CHANNEL,
    DROP_EMPTY_QUEUES,
    LOCK_QUEUES,
    RECORD_ATTEMPTS,
    RECORD_HEALTH,
    RESCHEDULE_QUEUES,
    SETTLE_DELIVERIES,
)
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


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claim:
    """A leased queue and its head delivery (None when the queue turned out empty)."""

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


@dataclass(frozen=True)
class Attempt:
    """What one POST of a delivery came to."""

    claim: Claim
    attempted_at: datetime
    outcome: str  # delivered | http_error | gone | timeout | connection_error | refused | ...
    latency: float
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


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
        self.rand = rand
        self.started = threading.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def run(self) -> None:
        asyncio.run(self._main())

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
        assert self._wake is not None
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
        inflight: set[asyncio.Task[Attempt]] = set()
        done: list[Attempt] = []
        listening = asyncio.create_task(self._listen(listener))
        try:
            self.started.set()
            while not self._stopping:
                self._wake.clear()
                if done:
                    batch = done[:]
                    done.clear()  # the same list: callbacks of running sends append to it
                    await self._settle(conn, batch)
                free = self.concurrency - len(inflight)
                claims = await self._claim(conn, free) if free > 0 else []
                for claim in claims:
                    task = asyncio.create_task(self._send(session, claim))
                    inflight.add(task)
                    task.add_done_callback(functools.partial(self._finished, inflight, done))
                if claims and len(claims) == free and not done:
                    continue
                if not done:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            if inflight:
                await asyncio.wait(inflight, timeout=self.timeout + 1)
            if done:
                await self._settle(conn, done)
        finally:
            listening.cancel()
            await session.close()
            await conn.close()
            await listener.close()

    def _finished(
        self, inflight: set[asyncio.Task[Attempt]], done: list[Attempt], task: asyncio.Task[Attempt]
    ) -> None:
        inflight.discard(task)
        if not task.cancelled() and task.exception() is None:
            done.append(task.result())
        elif not task.cancelled():
            log.error("delivery task failed", exc_info=task.exception())
        assert self._wake is not None
        self._wake.set()

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(DELIVERY_CHANNEL)))
        async for _ in conn.notifies():
            assert self._wake is not None
            self._wake.set()

    # -- claim, send, settle ----------------------------------------------------------------
    async def _claim(self, conn: psycopg.AsyncConnection[Any], limit: int) -> list[Claim]:
        now = self.now()
        async with conn.transaction():
            cur = await conn.execute(
                CLAIM, {"now": now, "lease_until": now + self.lease, "limit": limit}
            )
            rows = await cur.fetchall()
        claims = [Claim(*row) for row in rows]
        empty = [c for c in claims if c.delivery_id is None]
        if empty:
            # A queue emptied by a cancellation: settling nothing drops it.
            await self._settle_queues(conn, [], empty)
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
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.now())
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

    async def _settle(self, conn: psycopg.AsyncConnection[Any], attempts: list[Attempt]) -> None:
        """Record a batch of attempts and move their queues on, in one transaction."""
        now = self.now()
        settled: list[tuple[Attempt, str, datetime | None]] = []
        for a in attempts:
            if a.outcome == "delivered":
                settled.append((a, "delivered", None))
            elif a.outcome == "gone":
                settled.append((a, "failed", None))
            else:
                delay = self.schedule.next_delay(
                    a.claim.attempts + 1, retry_after=a.retry_after, rand=self.rand
                )
                retry_at = None if delay is None else a.attempted_at + timedelta(seconds=delay)
                settled.append((a, "failed" if retry_at is None else "pending", retry_at))
        for attempt_try in range(3):
            try:
                await self._settle_queues(conn, settled, [], now=now)
                break
            except psycopg.errors.DeadlockDetected:
                if attempt_try == 2:
                    raise
        for a in attempts:
            if a.outcome == "gone" and a.claim.tenant_id is not None:
                ctx = Context(a.claim.tenant_id, SYSTEM, uuid.uuid4().hex)
                await asyncio.to_thread(
                    self.app.disable_webhook, ctx, a.claim.subscription_id, "gone"
                )

    async def _settle_queues(
        self,
        conn: psycopg.AsyncConnection[Any],
        settled: list[tuple[Attempt, str, datetime | None]],
        empty: list[Claim],
        *,
        now: datetime | None = None,
    ) -> None:
        """Record attempts; retry a queue at its head's retry time, or move it on (or drop it)."""
        now = now or self.now()
        due: dict[tuple[UUID, UUID], datetime] = {}
        moved_on: set[tuple[UUID, UUID]] = set()
        for c in empty:
            due[c.subscription_id, c.entity_id] = now
            moved_on.add((c.subscription_id, c.entity_id))
        for a, _, retry_at in settled:
            key = (a.claim.subscription_id, a.claim.entity_id)
            due[key] = retry_at or now
            if retry_at is None:
                moved_on.add(key)
        keys = sorted(due)
        dropped = sorted(moved_on)
        async with conn.transaction(), conn.cursor() as cur:
            # Queue rows first, in key order: the subscriber locks them the same way.
            await cur.execute(LOCK_QUEUES, ([k[0] for k in keys], [k[1] for k in keys]))
            if settled:
                await self._record(cur, settled)
            await cur.execute(
                RESCHEDULE_QUEUES,
                ([k[0] for k in keys], [k[1] for k in keys], [due[k] for k in keys]),
            )
            await cur.execute(DROP_EMPTY_QUEUES, ([k[0] for k in dropped], [k[1] for k in dropped]))

    async def _record(
        self,
        cur: psycopg.AsyncCursor[Any],
        settled: list[tuple[Attempt, str, datetime | None]],
    ) -> None:
        attempts = [a for a, _, _ in settled]
        await cur.execute(
            RECORD_ATTEMPTS,
            (
                [a.claim.delivery_id for a in attempts],
                [a.claim.subscription_id for a in attempts],
                [a.attempted_at for a in attempts],
                [a.outcome for a in attempts],
                [a.status_code for a in attempts],
                [round(a.latency * 1000, 3) for a in attempts],
                [a.error for a in attempts],
            ),
        )
        await cur.execute(
            SETTLE_DELIVERIES,
            (
                [a.claim.delivery_id for a, _, _ in settled],
                [state for _, state, _ in settled],
                [a.attempted_at for a, _, _ in settled],
                [retry_at for _, _, retry_at in settled],
                [a.error for a, _, _ in settled],
            ),
        )
        health: dict[UUID, tuple[datetime | None, datetime | None, datetime | None]] = {}
        for a in sorted(attempts, key=lambda a: a.attempted_at):
            failing_since, last_success, last_failure = health.get(
                a.claim.subscription_id, (None, None, None)
            )
            if a.outcome == "delivered":
                health[a.claim.subscription_id] = (None, a.attempted_at, last_failure)
            else:
                health[a.claim.subscription_id] = (
                    failing_since or a.attempted_at,
                    last_success,
                    a.attempted_at,
                )
        ids = sorted(health)
        await cur.execute(
            RECORD_HEALTH,
            (
                ids,
                [health[i][0] for i in ids],
                [health[i][1] for i in ids],
                [health[i][2] for i in ids],
            ),
        )
        now = self.now()
        rows = metrics.increments(
            [a.outcome for a in attempts],
            [a.latency for a in attempts],
            [
                (now - a.claim.created_at).total_seconds()
                for a in attempts
                if a.outcome == "delivered" and a.claim.created_at is not None
            ],
        )
        await cur.execute(metrics.INCREMENT, metrics.increment_columns(rows))
