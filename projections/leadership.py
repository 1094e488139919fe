"""Leadership: one runner at a time leads a projection, by a session advisory lock.

A process holds the locks of every projection it leads on ONE session (`Leadership`, one
`Seat` per projection), named for operators, which also LISTENs for new events on their
behalf; standbys retry the locks every STANDBY_INTERVAL and take over once the leader's
session ends (process exit, crash, lost connection). A rebuild holds the same lock on a
session of its own (`exclusive_session`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from projections.connection import connection_lost
from projections.locks import projection_lock

log = logging.getLogger(__name__)

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


class ProjectionBusyError(RuntimeError):
    """Another session (a worker's leader, another replay) holds the projection's lock."""


@contextmanager
def leader_session(conninfo: str, name: str) -> Iterator[psycopg.Connection[Any]]:
    """A session for advisory locks (and LISTEN), named `syncline <name> <host>:<pid>`."""
    application = f"syncline {name} {socket.gethostname()}:{os.getpid()}"
    with psycopg.connect(conninfo, autocommit=True, application_name=application[:63]) as conn:
        for setting, value in LEADER_KEEPALIVES.items():
            conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(setting), sql.Literal(value)))
        yield conn


def try_lead(conn: psycopg.Connection[Any], name: str) -> bool:
    """Take projection `name`'s lock on this session if nobody holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (projection_lock(name),)).fetchone()
    return bool(row and row[0])


def still_leading(conn: psycopg.Connection[Any]) -> None:
    """A round trip on the lock's session: raises at once if the session was ended."""
    conn.execute("SELECT 1")


def lock_holder(conn: psycopg.Connection[Any], name: str) -> str:
    """Who holds a projection's advisory lock, in words an operator can act on."""
    row = conn.execute(
        "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0"
        " AND l.objid = %s::bigint::oid AND l.objsubid = 1",
        (projection_lock(name),),
    ).fetchone()
    if row is None:
        return "another session (it has just let go; try again)"
    pid, application, client, started = row
    who = application or "an unnamed session"
    where = f" from {client}" if client else ""
    since = f"{started:%Y-%m-%d %H:%M:%S%z}"
    return f"{who}{where} (PostgreSQL backend pid {pid}, connected since {since})"


@contextmanager
def exclusive_session(conninfo: str, name: str) -> Iterator[psycopg.Connection[Any]]:
    """A session holding projection `name`'s lock for the block (a rebuild); raises
    ProjectionBusyError, naming the holder, when another session holds it."""
    with leader_session(conninfo, name) as conn:
        if not try_lead(conn, name):
            raise ProjectionBusyError(
                f"projection {name} is being run by {lock_holder(conn, name)};"
                " stop the workers (or wait for the other replay) and try again"
            )
        yield conn


# How long the session's thread waits for a notification before it looks at its work
# (locks to take or let go): the longest `release` or a new `seat` waits.
SESSION_TICK = 0.1
# After relaying a notification, how long the session's thread lets the next ones gather
# before it reads them all at once: under a stream of commits it wakes the runners once
# per gathering, not once per commit (the live group lingers longer than this anyway).
GATHER = 0.002
# After a session starts, how long locks it did not win are retried every SESSION_TICK.
RETAKE_SECONDS = 5.0
# The longest `leave` waits for the session's thread to release the lock.
RELEASE_WAIT = 5.0
# After a lost session: reconnect after RECONNECT_DELAY, doubling while it keeps failing.
RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 5.0


class Seat:
    """One projection's place in a `Leadership`: `leading` is set while the session holds
    its lock; `wake` is called for every notification on the event store's channel, and
    `on_lead` (by default `wake`) when the seat wins or loses its lock."""

    def __init__(
        self,
        leadership: Leadership,
        name: str,
        wake: Callable[[], None],
        on_lead: Callable[[], None] | None = None,
    ) -> None:
        self.leadership = leadership
        self.name = name
        self.wake = wake
        self.on_lead = on_lead or wake
        self.leading = threading.Event()

    @property
    def leader_pid(self) -> int | None:
        return self.leadership.backend_pid if self.leading.is_set() else None

    def check(self) -> None:
        """Raises SessionLostError unless the session holds this lock now (no round trip:
        the session's thread clears `leading` as soon as its session fails)."""
        if not self.leading.is_set():
            raise SessionLostError(f"projection {self.name}: the leader session was lost")


class SessionLostError(RuntimeError):
    """The session holding a projection's lock ended (or let go of the lock)."""


class Leadership:
    """ONE session per process holding the advisory locks of every projection it leads.

    Each projection takes a `seat`; the session's thread takes every free lock at once (one
    statement), tries again the locks others hold every `standby_interval` seconds, and
    LISTENs on the event store's channel for all of them, waking every seat (once per
    GATHER of notifications under a stream of commits). When the
    session dies (its backend terminated, the server restarted) every seat stops leading
    at once, and the thread connects again after RECONNECT_DELAY (doubling while it keeps
    failing) and takes the locks again, without waiting for `standby_interval`.
    """

    def __init__(
        self,
        conninfo: str,
        channel: str,
        *,
        label: str = "leader",
        standby_interval: float = STANDBY_INTERVAL,
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.label = label
        self.standby_interval = standby_interval
        self.backend_pid: int | None = None
        self._seats: dict[str, Seat] = {}
        self._releases: list[tuple[str, threading.Event]] = []
        self._lock = threading.Lock()
        self._changed = threading.Event()  # a seat was taken or left
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seat(
        self, name: str, wake: Callable[[], None], on_lead: Callable[[], None] | None = None
    ) -> Seat:
        """Take a seat for projection `name` (the session thread starts with the first)."""
        seat = Seat(self, name, wake, on_lead)
        with self._lock:
            if name in self._seats:
                raise ValueError(f"projection {name} already has a seat")
            self._seats[name] = seat
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name=f"leadership-{self.label}", daemon=True
                )
                self._thread.start()
        self._changed.set()
        return seat

    def leave(self, seat: Seat) -> None:
        """Give the seat up: its lock is released before this returns (by the session's
        thread; at most RELEASE_WAIT seconds are waited for it)."""
        released = threading.Event()
        with self._lock:
            if self._seats.get(seat.name) is seat:
                del self._seats[seat.name]
                if seat.leading.is_set():
                    self._releases.append((seat.name, released))
                else:
                    released.set()
            else:
                released.set()
            seat.leading.clear()
            empty = not self._seats
        self._changed.set()
        if threading.current_thread() is not self._thread:
            released.wait(RELEASE_WAIT)
        if empty:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _lost(self) -> None:
        with self._lock:
            seats = list(self._seats.values())
            releases, self._releases = self._releases, []
        for _, released in releases:
            released.set()  # the session's end released them
        self.backend_pid = None
        for seat in seats:
            seat.leading.clear()
            seat.on_lead()  # a runner waiting for work learns at once that it lost its lead

    def _run(self) -> None:
        delay = RECONNECT_DELAY
        while not self._stop.is_set():
            try:
                with leader_session(self.conninfo, self.label) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.backend_pid = conn.info.backend_pid
                    delay = RECONNECT_DELAY
                    self._hold(conn)
                    self._release_all(conn)
            except Exception as exc:
                if not connection_lost(exc):
                    log.exception("the leader session failed; connecting again")
                else:
                    log.warning(
                        "the leader session was lost; connecting again",
                        extra={"error": str(exc), "retry_in_seconds": delay},
                    )
                self._lost()
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
        self._lost()

    def _hold(self, conn: psycopg.Connection[Any]) -> None:
        """Take the free locks, let go of the released ones, relay notifications.

        For RETAKE_SECONDS after the session starts, locks not won are tried again every
        SESSION_TICK rather than every standby interval: after a lost session, the backend
        that held them may still be exiting when the new session asks (it tells its client
        before it lets go of its locks), and the lead must not wait a standby interval for
        that."""
        retry_at = 0.0
        retake_until = time.monotonic() + RETAKE_SECONDS
        while not self._stop.is_set():
            changed = self._changed.is_set()
            self._changed.clear()
            with self._lock:
                releases, self._releases = self._releases, []
                wanted = [s for s in self._seats.values() if not s.leading.is_set()]
            for name, released in releases:
                conn.execute("SELECT pg_advisory_unlock(%s)", (projection_lock(name),))
                released.set()
            if wanted and (changed or time.monotonic() >= retry_at):
                self._take(conn, wanted)
                now = time.monotonic()
                retry_at = now + (SESSION_TICK if now < retake_until else self.standby_interval)
            woken = False
            for _ in conn.notifies(timeout=SESSION_TICK, stop_after=1):
                woken = True
            if woken:
                self._wake_leading()
                time.sleep(GATHER)
                if sum(1 for _ in conn.notifies(timeout=0)):  # every one that gathered
                    self._wake_leading()

    def _wake_leading(self) -> None:
        with self._lock:
            seats = [s for s in self._seats.values() if s.leading.is_set()]
        for seat in seats:
            seat.wake()

    def _take(self, conn: psycopg.Connection[Any], seats: list[Seat]) -> None:
        keys = [projection_lock(seat.name) for seat in seats]
        rows = conn.execute(
            "SELECT pg_try_advisory_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, i)"
            " ORDER BY i",
            (keys,),
        ).fetchall()
        for seat, (won,) in zip(seats, rows, strict=True):
            if not won:
                continue
            with self._lock:
                current = self._seats.get(seat.name) is seat
                if not current:
                    # Left meanwhile: let go again.
                    self._releases.append((seat.name, threading.Event()))
            if current:
                seat.leading.set()
                log.info("projection leader", extra={"projection": seat.name})
                seat.on_lead()

    def _release_all(self, conn: psycopg.Connection[Any]) -> None:
        """On a clean stop: let go of every lock before the session closes."""
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock_all()")
