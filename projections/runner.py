"""ProjectionRunner: follows the event log in batches, one leader per projection.

The pieces it puts together live beside it: the position and failure record of each
projection in projections.tracking, the advisory-lock leadership in
projections.leadership, the live batches committed together in projections.live, what a
projection is in projections.protocol.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from projections import tracking
from projections.connection import connection_lost
from projections.leadership import (
    STANDBY_INTERVAL,
    Leadership,
    Seat,
    SessionLostError,
    exclusive_session,
)
from projections.live import LiveGroup
from projections.locks import lock_event_store
from projections.log_reader import DEFAULT_BATCH, Batch, LogReader, continues
from projections.priority import CatchUpOrder
from projections.protocol import Projection
from projections.tracking import LeadershipLostError

log = logging.getLogger(__name__)

# A runner that fails retries after FIRST_RETRY_DELAY seconds, then twice as long each time
# it fails again, up to MAX_RETRY_DELAY: a transient cause passes within a second or two,
# and an event it cannot process costs a traceback every 30 s, not every second.
FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0
# A lost connection is not a failure of the projection: the runner reconnects (leads again,
# or retries on its pool) after RECONNECT_DELAY, doubling only while reconnecting keeps
# failing (the server is down), up to MAX_RECONNECT_DELAY.
RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 5.0

# A batch of events and what the projection prepared from it.
_Work = tuple[Batch, Any]


class ProjectionRunner:
    """Runs one projection: batches of events, each batch one transaction with its position.

    Leadership is a session advisory lock, so any number of workers may run the same
    projection: one processes, the others poll the lock every `standby_interval` seconds
    and take over once the leader's session ends (process exit, crash, lost connection).
    The tracking update is guarded by the position the batch started from, so even a
    leader that has not yet noticed it lost its session cannot apply a batch twice.

    In a worker, the runners share the process's `Leadership` (one session for all their
    locks) and its `LiveGroup` (at the head, one transaction per batch for all of them);
    a runner built without them holds its lock on a session of its own and commits its
    own live batches.
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
        leadership: Leadership | None = None,
        group: LiveGroup | None = None,
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
        self.later = order is not None and projection.catches_up_later
        self._stop = threading.Event()
        self.first_retry_delay = retry_delay
        self.is_leader = threading.Event()
        self.leader_pid: int | None = None  # backend pid of the session holding the lock
        self._reconnect_delay = RECONNECT_DELAY
        self._wake = threading.Event()
        self.leadership = leadership
        self.group = group
        self.last_position = 0  # where the last process_available left the projection

    @property
    def name(self) -> str:
        return self.projection.name

    def ensure_tracking(self) -> None:
        tracking.ensure_tracking(self.pool, self.name)

    def position(self) -> int:
        return tracking.read_position(self.pool, self.name)

    def wait_until(self, position: int, timeout: float = 30.0) -> bool:
        """Block until this projection's position reaches `position` (tests, CLI)."""
        return tracking.wait_for_position(self.pool, self.name, position, timeout)

    # -- processing -----------------------------------------------------------------------
    def read_batch(self, after: int, stop: int | None = None) -> Batch:
        """Up to `batch_size` events after position `after` (and at most `stop`), decoded."""
        return self.reader.read(after, self.batch_size, stop)

    def _read_work(self, after: int, stop: int | None) -> _Work:
        """The next batch, and what the projection prepares from it."""
        batch = self.read_batch(after, stop)
        return batch, self.projection.prepare(batch) if batch else None

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
                # Not the end of the log (nor of the stretch asked for: a batch that ends at
                # `stop` is its last, and an inline projection's last commits under the lock).
                more = continues(batch, self.batch_size) and (stop is None or batch[-1][0] < stop)
                if order is not None:
                    order.before_batch(
                        self.name, later=self.later, position=position, full=more, stop=self._stop
                    )
                    if self._stop.is_set():
                        break
                ahead: Future[_Work] | None = None
                if more:
                    reader = reader or ThreadPoolExecutor(1, thread_name_prefix=self.name)
                    ahead = reader.submit(self._read_work, batch[-1][0], stop)
                if still_leader is not None:
                    still_leader()
                if self.projection.inline and not more:
                    # The last stretch of an inline projection commits under the event
                    # store's lock, so the group commit writes it inline from the next batch.
                    if not self._commit_last_inline(position, batch, prepared):
                        break  # the group commit wrote these with their events
                else:
                    try:
                        self._commit_batch(position, batch, prepared)
                    except LeadershipLostError:
                        if not self.projection.inline:
                            raise
                        break  # read just as the group commit wrote them: start again
                position = batch[-1][0]
                done += len(batch)
                # A short batch was the end of the log: the next NOTIFY brings us back.
                batch, prepared = ahead.result() if ahead is not None else ([], None)
            self.last_position = position
        finally:
            if reader is not None:
                reader.shutdown(wait=True)
            if order is not None:
                order.done(self.name)
        return done

    def _commit_batch(self, position: int, events: Batch, prepared: Any) -> None:
        last = events[-1][0]
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if self.projection.inline and tracking.position_for_update(cur, self.name) != position:
                # Its tracking row first, as the group commit locks it (before the rows): the
                # two never wait for each other crosswise.
                raise LeadershipLostError(f"projection {self.name} moved under us at {position}")
            self.projection.write(cur, prepared)
            tracking.advance(cur, self.name, position, last)
        if self.on_batch is not None:
            self.on_batch(self.name, len(events), last)

    def _commit_last_inline(self, position: int, events: Batch, prepared: Any) -> bool:
        """Commit the log's last batch of an inline projection, and whatever was appended
        since it was read, holding the event store's exclusive lock (the lock the group
        commit takes): once this commits the projection is at the head, and the next batch
        of saves writes it with its events (syncline.inline). False when the position had
        moved already: the group commit is writing it inline."""
        if self.position() != position:
            return False  # read as the group commit wrote them (checked before locking)
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(lock_event_store(self.app))
            if tracking.position_for_update(cur, self.name) != position:
                return False
            self.projection.write(cur, prepared)
            last = events[-1][0]
            count = len(events)
            while rest := self.read_batch(last):  # committed before the lock: finite
                self.projection.write(cur, self.projection.prepare(rest))
                last = rest[-1][0]
                count += len(rest)
            tracking.advance(cur, self.name, position, last)
        if self.on_batch is not None:
            self.on_batch(self.name, count, last)
        return True

    # -- leading --------------------------------------------------------------------------
    def run(self) -> None:
        """Lead when possible, process as events arrive, until `stop()`.

        The lock is held by a `Leadership` session: the process's shared one when given
        (one session for all its projections), else one of this runner's own."""
        leadership = self.leadership or Leadership(
            str(self.pool.conninfo),
            self.app.recorder.channel_name,  # type: ignore[attr-defined]
            label=self.name,
            standby_interval=self.standby_interval,
        )
        seat = leadership.seat(self.name, self._woken, on_lead=self._look)
        tracked = False
        try:
            while not self._stop.is_set():
                if not seat.leading.is_set():
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
                    continue
                try:
                    if not tracked:
                        self.ensure_tracking()
                        tracked = True
                    self.leader_pid = seat.leader_pid
                    self.is_leader.set()
                    self._reconnect_delay = RECONNECT_DELAY  # the session works
                    self._follow(seat)
                except SessionLostError:
                    continue  # the session's thread connects again and takes the lock
                except LeadershipLostError as exc:
                    # Another runner moved the position: it leads now; stand by.
                    log.warning(
                        "projection runner lost its lead; standing by",
                        extra={"projection": self.name, "error": str(exc)},
                    )
                    self._stop.wait(self.standby_interval)
                except Exception as exc:
                    if connection_lost(exc):
                        self._reconnect_pause("projection runner lost a connection", exc)
                        continue
                    log.exception(
                        "projection runner failed; retrying", extra={"projection": self.name}
                    )
                    self._stop.wait(self.standby_interval)
                finally:
                    self.is_leader.clear()
                    self.leader_pid = None
        finally:
            leadership.leave(seat)

    def _woken(self) -> None:
        """A notification on the event store's channel. An inline projection is written
        with the events: it polls for being behind, rather than waking at every commit."""
        if not self.projection.inline:
            self._look()

    def _look(self) -> None:
        """Look for work at once: the log may have grown, or the seat won or lost its lock
        (an inline projection too: won after a restart or a rebuild, it may be behind)."""
        self._wake.set()
        if self.group is not None:
            self.group.wake()

    def _reconnect_pause(self, message: str, exc: BaseException) -> None:
        """Wait before reconnecting: RECONNECT_DELAY, doubling while it keeps failing."""
        delay = self._reconnect_delay
        log.warning(
            message, extra={"projection": self.name, "error": str(exc), "retry_in_seconds": delay}
        )
        self._stop.wait(delay)
        self._reconnect_delay = min(delay * 2, MAX_RECONNECT_DELAY)

    def _follow(self, seat: Seat) -> None:
        """As the leader: process what arrives until `stop()`; a failure is recorded and
        retried later, still holding the lock (standbys must not take turns at the same
        event). At the head, a runner with a LiveGroup hands its live work to the group
        until the group gives it back (a backlog, or a failure of this projection)."""
        # Whether a failure may be on record (another leader's, or this one's) that no
        # batch has cleared: it is cleared once a pass gets through.
        failed = True
        delay = self.first_retry_delay
        while not self._stop.is_set():
            seat.check()
            self._wake.clear()
            error: Exception | None = None
            try:
                self.process_available(still_leader=seat.check)
            except (LeadershipLostError, SessionLostError):
                raise
            except Exception as exc:
                if not seat.leading.is_set():
                    raise SessionLostError(str(exc)) from exc  # the lock went with the session
                if connection_lost(exc):
                    # A pooled connection died (its backend terminated, the server
                    # restarted): not this projection's failure. The pool replaces it.
                    self._reconnect_pause("projection runner lost a connection; retrying", exc)
                    continue
                error = exc
            if error is None:
                delay = self.first_retry_delay
                self._reconnect_delay = RECONNECT_DELAY
                if failed:
                    tracking.clear_failure(self.pool, self.name)
                    failed = False
                if self.group is not None and not self.projection.inline:
                    # Live: the group carries this projection until it gives it back (an
                    # inline projection is carried by the group commit instead).
                    error = self.group.follow(self, seat, self.last_position)
                    if error is None:
                        continue
                else:
                    # Wake on NOTIFY from the event store, or poll as a fallback.
                    self._wake.wait(self.poll_interval)
                    continue
            # It cannot get past an event (or the database refuses its batch): say so, and
            # try again later.
            log.error(
                "projection runner failed; retrying",
                exc_info=error,
                extra={"projection": self.name, "retry_in_seconds": delay},
            )
            tracking.record_failure(self.pool, self.name, error)
            failed = True
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, max(MAX_RETRY_DELAY, self.first_retry_delay))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.group is not None:
            self.group.leave(self.name)
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
        with exclusive_session(str(self.pool.conninfo), self.name):
            head = self.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
            total = self.reader.count(head)
            with self.pool.connection() as db, db.transaction(), db.cursor() as cur:
                if self.projection.inline:
                    # Between two batches of the group commit, which writes it (and locks
                    # its tables after the event store's): cleared and reset at one head.
                    cur.execute(lock_event_store(self.app))
                self.projection.clear(cur)
                tracking.reset(cur, self.name)
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
