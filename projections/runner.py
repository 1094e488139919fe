"""ProjectionRunner: follows the event log in batches, one leader per projection."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.log_reader import DEFAULT_BATCH, Batch, LogReader, continues
from projections.priority import CatchUpOrder

log = logging.getLogger(__name__)

# The longest error text kept in projection_tracking.last_error.
ERROR_TEXT = 500
# A runner that fails retries after FIRST_RETRY_DELAY seconds, then twice as long each time
# it fails again, up to MAX_RETRY_DELAY: a transient cause passes within a second or two,
# and an event it cannot process costs a traceback every 30 s, not every second.
FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0
# Projections announce each committed batch here (payload: "name:position").
PROJECTION_CHANNEL = "syncline_projection"
# How often a standby retries the leader's lock: the longest a dead leader goes unreplaced
# once PostgreSQL has noticed its connection is gone.
STANDBY_INTERVAL = 1.0
# Server-side TCP keepalives on the leader's session, so PostgreSQL notices a leader whose
# host vanished (no FIN, no RST) within about idle + interval * count seconds and frees
# its lock for a standby. Ignored on Unix sockets, where the kernel tells at once.
LEADER_KEEPALIVES = {
    "tcp_keepalives_idle": 5,
    "tcp_keepalives_interval": 2,
    "tcp_keepalives_count": 3,
}


class Projection(Protocol):
    """Turns events into rows. `process` runs inside the batch's transaction.

    A projection may also say `catches_up_later = True`: in a backlog it waits for the
    others of its process (see projections.priority.CatchUpOrder).
    """

    name: str

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None: ...

    def clear(self, cur: psycopg.Cursor[Any]) -> None: ...


class PreparingProjection(Projection, Protocol):
    """A projection whose batch work splits in two: `prepare` builds what a batch writes,
    in Python and without the database; `write` sends it inside the batch's transaction
    (`process(cur, events)` is `write(cur, prepare(events))`). While catching up, the
    runner prepares the next batch in its read-ahead thread while this one commits.
    `prepare` must not change anything the projection's `write` of an earlier batch reads.
    """

    def prepare(self, events: Sequence[tuple[int, Any]]) -> Any: ...

    def write(self, cur: psycopg.Cursor[Any], prepared: Any) -> None: ...


# A batch of events and what the projection prepared from it (None when it does not prepare).
_Work = tuple[Batch, Any]


class ProjectionBusyError(RuntimeError):
    """Another session (a worker's leader, another replay) holds the projection's lock."""


class LeadershipLostError(RuntimeError):
    """This runner's tracking position moved under it: another runner leads now."""


def advisory_key(name: str) -> int:
    return zlib.crc32(f"projection:{name}".encode())


def read_position(pool: ConnectionPool, name: str) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def lock_holder(conn: psycopg.Connection[Any], name: str) -> str:
    """Who holds a projection's advisory lock, in words an operator can act on."""
    row = conn.execute(
        "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
        " AND l.objid = %s::bigint::oid AND l.objsubid = 1",
        (advisory_key(name),),
    ).fetchone()
    if row is None:
        return "another session (it has just let go; try again)"
    pid, application, client, started = row
    who = application or "an unnamed session"
    where = f" from {client}" if client else ""
    since = f"{started:%Y-%m-%d %H:%M:%S%z}"
    return f"{who}{where} (PostgreSQL backend pid {pid}, connected since {since})"


class ProjectionRunner:
    """Runs one projection: batches of events, each batch one transaction with its position.

    Leadership is a session advisory lock, so any number of workers may run the same
    projection: one processes, the others poll the lock every `standby_interval` seconds
    and take over once the leader's session ends (process exit, crash, lost connection).
    The tracking update is guarded by the position the batch started from, so even a
    leader that has not yet noticed it lost its session cannot apply a batch twice.
    """

    def __init__(
        self,
        app: Application[Any],
        pool: ConnectionPool,
        projection: Projection,
        *,
        batch_size: int = DEFAULT_BATCH,
        poll_interval: float = 1.0,
        standby_interval: float = STANDBY_INTERVAL,
        on_batch: Callable[[str, int, int], None] | None = None,
        reader: LogReader | None = None,
        order: CatchUpOrder | None = None,
        retry_delay: float = FIRST_RETRY_DELAY,
    ) -> None:
        self.app = app
        self.reader = reader or LogReader(app, capacity=0)
        self.pool = pool
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.on_batch = on_batch
        self.order = order
        # Waits, while catching up, for this process's projections that go first.
        self.later = order is not None and getattr(projection, "catches_up_later", False)
        prepare, write = getattr(projection, "prepare", None), getattr(projection, "write", None)
        # A PreparingProjection's two stages; None for a plain Projection.
        self._stages: tuple[Callable[[Batch], Any], Callable[..., None]] | None = (
            (prepare, write) if prepare is not None and write is not None else None
        )
        self._stop = threading.Event()
        self.first_retry_delay = retry_delay
        self.is_leader = threading.Event()
        self.leader_pid: int | None = None  # backend pid of the session holding the lock

    @property
    def name(self) -> str:
        return self.projection.name

    def ensure_tracking(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
                (self.name,),
            )

    def position(self) -> int:
        return read_position(self.pool, self.name)

    # -- processing -----------------------------------------------------------------------
    def read_batch(self, after: int, stop: int | None = None) -> Batch:
        """Up to `batch_size` events after position `after` (and at most `stop`), decoded."""
        return self.reader.read(after, self.batch_size, stop)

    def _read_work(self, after: int, stop: int | None) -> _Work:
        """The next batch, prepared when the projection prepares (PreparingProjection)."""
        batch = self.read_batch(after, stop)
        if batch and self._stages is not None:
            return batch, self._stages[0](batch)
        return batch, None

    def process_available(
        self,
        limit: int | None = None,
        *,
        stop: int | None = None,
        still_leader: Callable[[], None] | None = None,
    ) -> int:
        """Process what the log holds now (at most `limit` events, up to position `stop`).

        While catching up (full batches, or the rest of one: see LogReader), the next batch
        is read, decoded and prepared in a second thread while the current one commits:
        below the head the log never changes (notification ids are issued in commit order),
        so reading ahead equals reading later.

        With a CatchUpOrder, the runner waits for its turn before each batch (see there).

        Only the leader may call this, or a caller that knows no runner is active;
        `still_leader` (raising when leadership is gone) is checked before each batch.
        """
        done = 0
        position = self.position()
        batch, prepared = self._read_work(position, stop)
        reader: ThreadPoolExecutor | None = None
        order = self.order
        try:
            while batch and not self._stop.is_set() and (limit is None or done < limit):
                more = continues(batch, self.batch_size)  # not the end of the log
                if order is not None:
                    order.before_batch(self.name, self.later, position, more, self._stop)
                    if self._stop.is_set():
                        break
                ahead: Future[_Work] | None = None
                if more:
                    reader = reader or ThreadPoolExecutor(1, thread_name_prefix=self.name)
                    ahead = reader.submit(self._read_work, batch[-1][0], stop)
                if still_leader is not None:
                    still_leader()
                self._commit_batch(position, batch, prepared)
                position = batch[-1][0]
                done += len(batch)
                # A short batch was the end of the log: the next NOTIFY brings us back.
                batch, prepared = ahead.result() if ahead is not None else ([], None)
        finally:
            if reader is not None:
                reader.shutdown(wait=True)
            if order is not None:
                order.done(self.name)
        return done

    def _commit_batch(self, position: int, events: Batch, prepared: Any) -> None:
        last = events[-1][0]
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if self._stages is not None:
                self._stages[1](cur, prepared)
            else:
                self.projection.process(cur, events)
            cur.execute(
                "UPDATE projection_tracking SET position = %s, updated_at = now(),"
                " failing_since = NULL, last_error = NULL"  # a batch got through
                " WHERE name = %s AND position = %s",
                (last, self.name, position),
            )
            if cur.rowcount != 1:
                raise LeadershipLostError(f"projection {self.name} moved under us at {position}")
            cur.execute("SELECT pg_notify(%s, %s)", (PROJECTION_CHANNEL, f"{self.name}:{last}"))
        if self.on_batch is not None:
            self.on_batch(self.name, len(events), last)

    # -- leadership -----------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """A dedicated session for the advisory lock (and LISTEN), named for operators."""
        application = f"syncline {self.name} {socket.gethostname()}:{os.getpid()}"
        with psycopg.connect(
            str(self.pool.conninfo), autocommit=True, application_name=application[:63]
        ) as conn:
            for setting, value in LEADER_KEEPALIVES.items():
                conn.execute(
                    sql.SQL("SET {} = {}").format(sql.Identifier(setting), sql.Literal(value))
                )
            yield conn

    def _try_lock(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(self.name),)).fetchone()
        return bool(row and row[0])

    def run(self) -> None:
        """Lead when possible, process as events arrive, until `stop()`."""
        self.ensure_tracking()
        while not self._stop.is_set():
            try:
                self._lead()
            except (LeadershipLostError, psycopg.OperationalError) as exc:
                # Lost the lock's session or the position: a standby may lead now.
                log.warning(
                    "projection runner lost its session or lead; retrying",
                    extra={"projection": self.name, "error": str(exc)},
                )
                self._stop.wait(self.standby_interval)
            except Exception:
                log.exception("projection runner failed; retrying", extra={"projection": self.name})
                self._stop.wait(self.standby_interval)

    def _lead(self) -> None:
        with self._session() as conn:
            while not self._try_lock(conn):
                if self._stop.wait(self.standby_interval):
                    return
            self.leader_pid = conn.info.backend_pid
            self.is_leader.set()
            log.info("projection leader", extra={"projection": self.name})
            try:
                channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

                def still_leader() -> None:
                    # A round trip on the lock's session: fails at once if it was ended.
                    conn.execute("SELECT 1")

                # Whether a failure may be on record (another leader's, or this one's) that
                # no batch has cleared: it is cleared once a pass gets through.
                failed = True
                delay = self.first_retry_delay
                while not self._stop.is_set():
                    try:
                        self.process_available(still_leader=still_leader)
                    except LeadershipLostError:
                        raise
                    except Exception as exc:
                        if conn.closed or conn.broken:
                            raise  # the lock's session ended: a standby may lead now
                        # It cannot get past an event (or the database refuses its batch):
                        # say so, and try again later, holding the lock so that standbys
                        # do not take turns at the same event.
                        log.exception(
                            "projection runner failed; retrying",
                            extra={"projection": self.name, "retry_in_seconds": delay},
                        )
                        self._record_failure(exc)
                        failed = True
                        if self._stop.wait(delay):
                            return
                        delay = min(delay * 2, max(MAX_RETRY_DELAY, self.first_retry_delay))
                        continue
                    delay = self.first_retry_delay
                    if failed:
                        self._clear_failure()
                        failed = False
                    # Wake on NOTIFY from the event store, or poll as a fallback. NOTIFYs
                    # that arrived while processing are queued on the socket and end the
                    # wait at once.
                    for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
            finally:
                self.is_leader.clear()
                self.leader_pid = None

    def _record_failure(self, exc: Exception) -> None:
        """Mark the projection as failing (since when, and why) for /metrics and operators;
        best effort: the database may be what failed."""
        try:
            with self.pool.connection(timeout=2) as conn:
                conn.execute(
                    "UPDATE projection_tracking SET failing_since = coalesce(failing_since,"
                    " now()), last_error = format('%%s after position %%s: %%s', %s::text,"
                    " position, %s::text) WHERE name = %s",
                    (type(exc).__name__, str(exc)[:ERROR_TEXT], self.name),
                )
        except Exception:  # the failure itself is logged already
            log.warning("could not record the failure", extra={"projection": self.name})

    def _clear_failure(self) -> None:
        """It got through: it is not failing (any more). Each batch's commit clears the
        record too; this is for a failure with no batch after it (at the head)."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_tracking SET failing_since = NULL, last_error = NULL"
                " WHERE name = %s AND failing_since IS NOT NULL",
                (self.name,),
            )

    def stop(self) -> None:
        self._stop.set()
        if self.order is not None:
            self.order.wake()

    # -- rebuilding -----------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Clear the projection and rebuild it from the log, up to the head at the start.

        Holds the projection's advisory lock throughout, so no worker leads meanwhile;
        raises ProjectionBusyError (naming the holder) when someone else holds it.
        `progress(done, total)` is called after each batch. Answers the events processed.
        """
        self.ensure_tracking()
        with self._session() as conn:
            if not self._try_lock(conn):
                raise ProjectionBusyError(
                    f"projection {self.name} is being run by {lock_holder(conn, self.name)};"
                    " stop the workers (or wait for the other replay) and try again"
                )
            head = self.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
            total = self.log_size(head)
            with self.pool.connection() as db, db.transaction(), db.cursor() as cur:
                self.projection.clear(cur)
                cur.execute(
                    "UPDATE projection_tracking SET position = 0, updated_at = now()"
                    " WHERE name = %s",
                    (self.name,),
                )
            done = 0
            if progress is not None:
                progress(0, total)

            def report(_: str, count: int, __: int) -> None:
                nonlocal done
                done += count
                if progress is not None:
                    progress(done, total)

            previous, self.on_batch = self.on_batch, report
            try:
                self.process_available(stop=head, still_leader=lambda: None)
            finally:
                self.on_batch = previous
            return done

    def log_size(self, head: int) -> int:
        """How many events the log holds up to `head` (ids have gaps: failed inserts)."""
        recorder: Any = self.app.recorder
        table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        with self.pool.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE notification_id <= %s").format(table),
                (head,),
            ).fetchone()
        return int(row[0]) if row else 0

    def wait_until(self, position: int, timeout: float = 30.0) -> bool:
        """Block until this projection's position reaches `position` (tests, CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.position() >= position:
                return True
            time.sleep(0.01)
        return False
