"""LogReader: reads the event log in decoded batches, shared by a process's runners."""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql
from psycopg.rows import tuple_row

from projections.event_decoder import EventDecoder

MAX_POSITION = 2**63 - 1
Batch = list[tuple[int, Any]]
# Events per batch (a runner's transaction). A batch's own cost (its transaction, tracking
# row, the catch-up order's turn, a read) is paid per batch: at 2000 a worker's whole
# catch-up took 10% less CPU per event than at 1000 (medians of four alternated runs of
# 50,000 events); at 4000 it was slower again (docs/internals/change-feed.md).
DEFAULT_BATCH = 2000
# Full batches kept at the frontier, where the runners catching up first read close
# together (about 16,000 decoded events); a reader given more room keeps, besides them, the
# oldest batches for the runners that catch up later (see `LogReader`).
FRONTIER = 8
DEFAULT_CAPACITY = FRONTIER
# For the rest of a transaction: its prepared statements run with their generic plan.
GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"


@dataclass
class _Read:
    """A read in progress that other runners asking for the same batch wait for."""

    done: threading.Event = field(default_factory=threading.Event)
    batch: Batch | None = None


class LogReader:
    """Reads `(notification id, domain event)` batches after a position.

    Every projection of a worker follows the same log with the same batch size, so while
    they catch up they ask for the same batches, often at the same moment. Decoding is
    most of the cost of a batch, so a batch is read once (concurrent askers wait for the
    first) and the last few full batches are kept. Only full batches are shared: a full
    batch lies below the head and can never change, a short one may still grow. A runner
    whose position lies inside a kept batch gets the rest of it (see `_rest_of_cached`),
    which brings runners that stopped at different positions into step.

    The runners that catch up first (`projections.priority`) read within a few batches of
    each other, at the frontier: the `FRONTIER` highest batches serve them. Those that
    catch up later read the same batches afterwards, from the oldest on. With room for more
    than the frontier (`capacity`), a batch that falls out of the frontier stays until the
    room is full, and then the newest of those outside the frontier goes first: the later
    runners find the oldest batches decoded, which they read first, and read again only
    what did not fit. `release()` (nobody is catching up) empties the cache.
    Projections must treat events as read-only (they are shared between threads).
    """

    def __init__(self, app: Application[Any], capacity: int = DEFAULT_CAPACITY) -> None:
        self.app = app
        self.capacity = capacity
        self._batches: dict[tuple[int, int], Batch] = {}
        self._kept_events = 0  # in `_batches`
        self._reading: dict[tuple[int, int], _Read] = {}
        self._lock = threading.Lock()
        self.decoder = EventDecoder(app.mapper)
        recorder: Any = app.recorder
        # The recorder's select_notifications(), less its dict rows and Notification objects.
        self._select = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))
        self._count = sql.SQL("SELECT count(*) FROM {} WHERE notification_id <= %s").format(
            sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        )
        self._datastore = recorder.datastore
        self.shared = 0  # batches answered without reading (statistics for benchmarks)
        self.read_count = 0

    def read(self, after: int, limit: int, stop: int | None = None) -> Batch:
        """Up to `limit` events after position `after` (and at most `stop`), oldest first."""
        if self.capacity <= 0:
            return self._read(after, limit, stop)
        key = (after, limit)
        with self._lock:
            cached = self._batches.get(key)
            if cached is not None and _within(cached, stop):
                self.shared += 1
                return cached
            rest = self._rest_of_cached(after, limit, stop)
            if rest is not None:
                self.shared += 1
                return rest
            pending = self._reading.get(key)
            first = pending is None
            if pending is None:
                pending = self._reading[key] = _Read()
        if not first:
            pending.done.wait()
            if pending.batch is not None and _within(pending.batch, stop):
                with self._lock:
                    self.shared += 1
                return pending.batch
            return self._read(after, limit, stop)
        try:
            batch = self._read(after, limit, stop)
            if len(batch) == limit:
                pending.batch = batch
                with self._lock:
                    self._batches[key] = batch
                    self._kept_events += len(batch)
                    while len(self._batches) > self.capacity:
                        self._kept_events -= len(self._batches.pop(self._to_evict()))
            return batch
        finally:
            with self._lock:
                del self._reading[key]
            pending.done.set()

    @property
    def kept(self) -> int:
        """How many full batches are kept decoded now."""
        with self._lock:
            return len(self._batches)

    @property
    def kept_events(self) -> int:
        """How many decoded events the kept batches hold now."""
        return self._kept_events

    def release(self) -> None:
        """Drop every kept batch: nobody is catching up, so nobody will ask for one."""
        with self._lock:
            self._batches.clear()
            self._kept_events = 0

    def _to_evict(self) -> tuple[int, int]:
        """The batch to drop from a full cache (called under the lock): within the frontier
        alone, the oldest; else the newest batch outside the frontier."""
        keys = sorted(self._batches)
        if len(keys) <= FRONTIER:
            return keys[0]
        return keys[-FRONTIER - 1]

    def count(self, head: int) -> int:
        """How many events the log holds up to `head` (ids have gaps: failed inserts)."""
        with (
            self._datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            cur.execute(self._count, (head,))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def _rest_of_cached(self, after: int, limit: int, stop: int | None) -> Batch | None:
        """The events after `after` of a cached batch that holds `after` inside it, marked
        as not the end of the log (a `Continued`); None when no cached batch does.

        Runners that stopped at different positions ask for batches that start in the
        middle of each other's: answering the rest of the cached one brings the asker to
        its end, where both ask for the same next batch from then on. Called under the lock.
        """
        for (start, size), batch in self._batches.items():
            if size == limit and start < after < batch[-1][0] and _within(batch, stop):
                index = bisect_right(batch, after, key=_position)
                return Continued(batch[index:])
        return None

    def _read(self, after: int, limit: int, stop: int | None) -> Batch:
        with self._datastore.get_connection() as conn, conn.transaction():
            return self.read_on(conn, after, limit, stop)

    def read_on(
        self,
        conn: psycopg.Connection[Any],
        after: int,
        limit: int,
        stop: int | None = None,
    ) -> Batch:
        """`read`, uncached, on `conn` inside the caller's transaction (the live group
        reads and writes a batch in one). The rest of the transaction keeps generic plans
        (`GENERIC_PLAN`): the live group's writes take a batch's rows as arrays, which a
        plan for the values serves no better, and were planned again for every batch."""
        # Binary rows: the stored state as it is, not hex text to be decoded back.
        with conn.cursor(row_factory=tuple_row, binary=True) as cur:
            # A range of the log in id order is an index scan whatever the statistics say.
            # Left to plan each read with them, PostgreSQL reads the whole rest of a log it
            # has not analyzed yet (a fresh import, a backlog appended in bulk) and sorts it,
            # for every batch: a catch-up that grows with the square of the backlog.
            cur.execute(GENERIC_PLAN)
            cur.execute(
                self._select, (after, MAX_POSITION if stop is None else stop, limit), prepare=True
            )
            rows = cur.fetchall()
        decode = self.decoder.decode
        with self._lock:
            self.read_count += 1
        return [
            (position, decode(originator_id, version, topic, state))
            for position, originator_id, version, topic, state in rows
        ]


class Continued(list[tuple[int, Any]]):
    """A batch shorter than asked for that is not the end of the log: the rest of a full
    batch, whose last event lies below the head."""


def continues(batch: Batch, limit: int) -> bool:
    """Whether more of the log lies after `batch`, read with `limit`: it is full, or the
    rest of a full one."""
    return len(batch) == limit or isinstance(batch, Continued)  # a Continued is never empty


def _position(event: tuple[int, Any]) -> int:
    return event[0]


def _within(batch: Batch, stop: int | None) -> bool:
    return stop is None or batch[-1][0] <= stop
