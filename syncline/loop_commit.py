"""Group commit on an event loop: the API process's saves, batched without a thread.

The flusher thread (syncline.group_commit) serves any caller, but a save made on the event
loop crossed two threads to get there and back: the request handed its events to the
flusher (a lock and a condition), the flusher woke it through the loop's self-pipe, and
the two threads took the GIL from each other on every batch. Under load the loop thread is
busy with requests, so the flusher waited for the GIL before it could send a batch and
again before it could answer it; a create's latency, not its CPU, capped how many a
process answered.

`LoopCommitter` does the same work on the loop itself: the saves made while a batch is in
flight wait in a list, a single task writes them as the next batch over one
`psycopg.AsyncConnection` (the same pipeline and SQL as the flusher: `InlineWriter`), and
each caller's future is set directly. Saves made on other threads of the process (updates
and deletes run in worker threads) are handed to the loop, so the process keeps one writing
session. The API binds one committer to its loop at start-up and unbinds it at shutdown;
every other process, and the API outside its loop's life, uses the flusher thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from psycopg.pq import TransactionStatus

from projections.protocol import Projection
from syncline.inline import BEHIND, InlineWriter

log = logging.getLogger(__name__)


@dataclass
class _Save:
    events: Sequence[StoredEvent]
    domain_events: Sequence[Any] | None
    future: asyncio.Future[Sequence[int]]


@dataclass
class _Statements:
    """Stands in for a cursor while a projection writes its rows: keeps the statements, to
    be sent on the async connection (the projections write through a sync cursor's
    `execute` and read nothing back)."""

    sent: list[tuple[Any, Any]] = field(default_factory=list)

    def execute(self, query: Any, params: Any = None, **_: Any) -> _Statements:
        self.sent.append((query, params))
        return self


class LoopCommitter:
    """Batches the saves of one event loop and writes each batch in one transaction."""

    def __init__(
        self,
        writer: InlineWriter,
        conninfo: str,
        loop: asyncio.AbstractEventLoop,
        max_batch_events: int,
    ) -> None:
        self.writer = writer
        self.conninfo = conninfo
        self.loop = loop
        self.max_batch_events = max_batch_events
        self._queue: list[_Save] = []
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._drained = False  # unbound: the session closes once nothing waits

    async def insert(
        self, events: Sequence[StoredEvent], domain_events: Sequence[Any] | None
    ) -> Sequence[int]:
        """Insert `events` with the next batch (on the loop); answers their ids."""
        future: asyncio.Future[Sequence[int]] = self.loop.create_future()
        self._queue.append(_Save(events, domain_events, future))
        if self._task is None:
            self._task = self.loop.create_task(self._flush_waiting())
        # Shielded: a cancelled request must not forget a save that may still commit.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait for the saves already made, then close the session."""
        self._drained = True
        while self._task is not None:
            await asyncio.shield(self._task)
        await self._close()

    async def _close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _flush_waiting(self) -> None:
        try:
            while self._queue:
                batch: list[_Save] = []
                size = 0
                while self._queue and (
                    not batch or size + len(self._queue[0].events) <= self.max_batch_events
                ):
                    save = self._queue.pop(0)
                    batch.append(save)
                    size += len(save.events)
                await self._flush(batch)
            if self._drained:  # a save handed over as the loop was unbound: written
                await self._close()
        finally:
            self._task = None
            for save in self._queue if self._queue else ():
                # Only reached when the task itself was cancelled (the loop is closing).
                if not save.future.done():
                    save.future.set_exception(OperationalError("the event loop closed"))
            self._queue.clear()

    async def _flush(self, batch: list[_Save]) -> None:
        try:
            ids = await self._insert(batch)
        except IntegrityError as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
            else:
                # One save conflicted; retry each alone so only it sees the error.
                for save in batch:
                    await self._flush([save])
            return
        except asyncio.CancelledError:  # the loop is closing mid-batch: committed or not
            for save in batch:
                _settle(save, error=OperationalError("the event loop closed during the save"))
            raise
        except BaseException as exc:  # every caller must see every failure
            for save in batch:
                _settle(save, error=exc)
            return
        offset = 0
        for save in batch:
            count = len(save.events)
            _settle(save, ids=ids[offset : offset + count])
            offset += count

    async def _insert(self, batch: list[_Save]) -> list[int]:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True
            )
            conn.prepare_threshold = 2**31 - 1  # only the insert is prepared (InlineWriter)
        events = [e for save in batch for e in save.events]
        domain: list[Any] | None = []
        for save in batch:
            if save.domain_events is None or domain is None:
                domain = None
            else:
                domain.extend(save.domain_events)
        try:
            return await self._write(conn, events, domain)
        except psycopg.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except (psycopg.OperationalError, asyncio.CancelledError) as exc:
            # The session is gone or was cut off mid-batch; the next batch reconnects.
            # Whether this one committed is unknown, so its callers see the error.
            await conn.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise OperationalError(str(exc)) from exc

    async def _write(
        self,
        conn: psycopg.AsyncConnection[Any],
        events: Sequence[StoredEvent],
        domain_events: Sequence[Any] | None,
    ) -> list[int]:
        """`InlineWriter.write`, on the async session."""
        writer = self.writer
        work = writer.work(domain_events)
        if not writer.behind or domain_events is None:
            try:
                return await self._pipelined(conn, events, work)
            except psycopg.Error as exc:
                if exc.sqlstate != BEHIND:
                    raise
        return await self._at_the_head(conn, events, work)

    async def _pipelined(
        self,
        conn: psycopg.AsyncConnection[Any],
        events: Sequence[StoredEvent],
        work: list[tuple[Projection, Any]],
    ) -> list[int]:
        writer = self.writer
        statements = _statements(work)
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                inserted = await conn.execute(
                    writer.insert_sql, writer.parameters(events, work), prepare=True
                )
                for query, params in statements:
                    await conn.execute(query, params)
                await conn.execute("COMMIT")
        except BaseException:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("ROLLBACK")
            raise
        writer.behind = {p.name for p in writer.projections} - {p.name for p, _ in work}
        return [row[0] for row in await inserted.fetchall()]

    async def _at_the_head(
        self,
        conn: psycopg.AsyncConnection[Any],
        events: Sequence[StoredEvent],
        work: list[tuple[Projection, Any]],
    ) -> list[int]:
        """The batch with only the projections at the head, read under the lock."""
        writer = self.writer
        names = [p.name for p in writer.projections]
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(writer.lock_sql)
            await cur.execute(writer.at_head_sql, (names,))
            at_head = {row[0] for row in await cur.fetchall()}
            work = [(p, prepared) for p, prepared in work if p.name in at_head]
            await cur.execute(writer.insert_sql, writer.parameters(events, work))
            ids = [row[0] for row in await cur.fetchall()]
            for query, params in _statements(work):
                await cur.execute(query, params)
        writer.behind = set(names) - at_head
        return ids


def _statements(work: list[tuple[Projection, Any]]) -> list[tuple[Any, Any]]:
    """The statements the projections write a batch's rows with, in order."""
    recorder = _Statements()
    for projection, prepared in work:
        projection.write(recorder, prepared)  # type: ignore[arg-type]
    return recorder.sent


def _settle(
    save: _Save, *, ids: Sequence[int] | None = None, error: BaseException | None = None
) -> None:
    if save.future.done():  # cancelled: nobody awaits it
        return
    if error is not None:
        save.future.set_exception(error)
    else:
        save.future.set_result(ids or [])
