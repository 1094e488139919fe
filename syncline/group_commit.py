"""Group commit: concurrent saves share one event-store transaction and one round trip.

The event store serializes writers with `LOCK TABLE … IN EXCLUSIVE MODE` so that
notification ids are assigned in commit order, which caps one-transaction-per-save
throughput at one lock hold per commit. One flusher thread per process instead takes every
save waiting at that moment and inserts them together.

The batch is written by `syncline_insert_events()` (made by the baseline migration), a SQL
function that does what the `eventsourcing` recorder's default insert does — take the same
exclusive table lock, `NOTIFY` the same channel, insert the rows and answer their
notification ids — in a single statement, so a batch costs one round trip and almost no
client CPU. The lock is held until the statement's transaction commits, exactly as in the
library's path, so commit order and notification-id order still agree
(tests/integration/test_commit_order.py checks it with concurrent writers and a tailing reader).

Each batch also writes the inline projections' rows (syncline.inline), in the same
transaction: the insert is `syncline_insert_events_inline()`, which moves their tracking
positions too, called by `syncline_insert_records()` for a batch of records' changes,
which then writes their rows in the same call. The save path hands the recorder the
domain events with the stored ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    OperationalError,
    Recording,
    StoredEvent,
)

from projections.protocol import Projection
from syncline.database import heard_from_server
from syncline.inline import InlineWriter

log = logging.getLogger(__name__)
MAX_BATCH_EVENTS = 1000


@dataclass
class _Pending:
    events: Sequence[StoredEvent]
    # Called on the flusher thread with the rows' notification ids, or the error.
    finish: Callable[[Sequence[int] | None, BaseException | None], None]
    # The same events, decoded, for the inline projections (None: a caller without them).
    domain_events: Sequence[Any] | None = None


class GroupCommitRecorder:
    """Wraps an eventsourcing PostgreSQL application recorder; all but inserts pass through."""

    def __init__(self, inner: Any, conninfo: str, projections: Sequence[Projection] = ()) -> None:
        self._inner = inner
        self._conninfo = conninfo
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        # The batch's writer: the events, and the inline projections' rows with them.
        self._writer = InlineWriter(projections, inner.datastore.schema, inner.events_table_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        domain_events: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Insert with the next batch; `domain_events` (the same events, decoded) are what
        the inline projections are written from."""
        if any(value is not None for value in kwargs.values()) or not stored_events:
            # Tracked (process-application) inserts keep the library's own transaction.
            return self._inner.insert_events(stored_events, **kwargs)
        done = threading.Event()
        answer: list[Any] = [None, None]

        def finish(ids: Sequence[int] | None, error: BaseException | None) -> None:
            answer[:] = [ids, error]
            done.set()

        if not self._enqueue(_Pending(stored_events, finish, domain_events)):
            return self._inner.insert_events(stored_events)
        done.wait()
        if answer[1] is not None:
            raise answer[1]
        return answer[0]

    async def insert_events_async(
        self, stored_events: Sequence[StoredEvent], domain_events: Sequence[Any]
    ) -> Sequence[int]:
        """`insert_events` for a caller on an event loop: it awaits its batch's commit
        instead of blocking a thread (no worker thread, no thread wake-up per save)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Sequence[int]] = loop.create_future()

        def settle(ids: Sequence[int] | None, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(ids or [])

        def finish(ids: Sequence[int] | None, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody awaits
                loop.call_soon_threadsafe(settle, ids, error)

        pending = _Pending(stored_events, finish, domain_events)
        if not stored_events or not self._enqueue(pending):
            inserted: Sequence[int] = await asyncio.to_thread(
                self._inner.insert_events, stored_events
            )
            return inserted
        # Shielded: a cancelled request must not forget a save that may still commit.
        return await asyncio.shield(future)

    def _enqueue(self, pending: _Pending) -> bool:
        """Queue a save for the flusher; False once closed (the caller inserts itself)."""
        with self._cond:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._flush_forever, name="group-commit", daemon=True
                )
                self._thread.start()
            self._queue.append(pending)
            self._cond.notify()
        return True

    def _flush_forever(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    break
                batch: list[_Pending] = []
                size = 0
                while self._queue and (
                    not batch or size + len(self._queue[0].events) <= MAX_BATCH_EVENTS
                ):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += len(item.events)
            self._flush(batch)
        if self._conn is not None:
            self._conn.close()

    def _insert(self, batch: list[_Pending]) -> list[int]:
        if self._conn is not None and heard_from_server(self._conn):
            # Its server ended the session while it sat idle (a terminated backend, a
            # restart): replaced before the batch is sent, so no write fails for it.
            self._conn.close()
        if self._conn is None or self._conn.closed:
            self._conn = self._writer.connect(self._conninfo)
        events = [e for p in batch for e in p.events]
        domain: list[Any] | None = []
        for item in batch:
            if item.domain_events is None or domain is None:
                domain = None
            else:
                domain.extend(item.domain_events)
        try:
            return self._writer.write(self._conn, events, domain)
        except psycopg.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except psycopg.OperationalError as exc:
            # The connection is gone; the next batch reconnects. Whether this batch
            # committed is unknown, so its callers see the error rather than a retry.
            self._conn.close()
            raise OperationalError(str(exc)) from exc

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            ids = self._insert(batch)
        except IntegrityError as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
            else:
                # One save conflicted; retry each alone so only it sees the error.
                for item in batch:
                    self._flush([item])
            return
        except BaseException as exc:  # every caller must see every failure
            for item in batch:
                self._finish(item, error=exc)
            return
        offset = 0
        for item in batch:
            count = len(item.events)
            self._finish(item, ids=ids[offset : offset + count])
            offset += count

    @staticmethod
    def _finish(
        item: _Pending, *, ids: Sequence[int] | None = None, error: BaseException | None = None
    ) -> None:
        try:
            item.finish(ids, error)
        except Exception:  # the flusher must outlive any caller, or every later save hangs
            log.exception("a group-commit caller's completion failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _collect(aggregates: Sequence[Aggregate]) -> ProcessingEvent[UUID]:
    """What ProcessingEvent.collect_events() does for aggregates, less its isinstance checks
    against runtime Protocols: slow on Python 3.11, they were about a sixth of a create's
    instructions."""
    processing = ProcessingEvent[UUID]()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    return processing


class GroupCommitSaves(Application[UUID]):
    """The save path of an application whose recorder is a `GroupCommitRecorder`: mixed in
    before the domain's application by the composition root (syncline.runtime), which
    constructs that recorder.

    `save_async` encodes an event-loop caller's events and awaits their batch's commit, with
    no worker thread; `save` is the library's, step for step, less the Protocol checks (see
    `_collect`). Both follow eventsourcing's `Application.save` and its private steps, so
    they live here, beside the recorder, and not in the domain.
    """

    @property
    def saves_async(self) -> bool:
        """Whether save() has nothing to do but insert: no aggregate cache, no snapshots."""
        return self.repository.cache is None and self.snapshots is None

    async def save_async(self, *aggregates: Aggregate) -> None:
        if not self.saves_async:
            raise RuntimeError("save_async needs an application without cache or snapshots")
        recorder: GroupCommitRecorder = self.recorder  # type: ignore[assignment]
        to_stored = self.mapper.to_stored_event
        events = _collect(aggregates).events
        await recorder.insert_events_async([to_stored(e) for e in events], events)

    def _record(self, processing: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The library's `_record` (EventStore.put), passing the domain events along for
        the inline projections."""
        if processing.tracking is not None or processing.saved_kwargs:
            return super()._record(processing)
        recorder: GroupCommitRecorder = self.recorder  # type: ignore[assignment]
        events = processing.events
        stored = [self.mapper.to_stored_event(e) for e in events]
        ids = recorder.insert_events(stored, domain_events=events) if stored else []
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return [
            Recording(d, Notification(**vars(s), id=n))
            for d, s, n in zip(events, stored, ids or [], strict=False)
        ]

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if kwargs or not all(isinstance(obj, Aggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        processing = _collect(objs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, as save() calls it
        return recordings
