"""PostgreSQL: the configured server or an embedded one, and connection pools."""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import ConnStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from projections.connection import unread_input

log = logging.getLogger(__name__)

# pgserver servers we started, kept alive for the life of the process.
_embedded: dict[Path, Any] = {}


class DataDirectoryError(RuntimeError):
    """The embedded database's directory cannot be made (the settings check cannot try
    without making it)."""


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop, from pgserver's list of the processes using the embedded server, those that
    no longer run; answer them. pgserver stops the server when the last process on its
    list exits, and a process killed (`kill -9`, a crash) never takes itself off: the
    server would then outlive every later `syncline dev`. Under pgserver's own lock."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        pids = handles.get()
        dead = [pid for pid in pids if not _running(pid)]
        if dead:
            handles.put([pid for pid in pids if pid not in dead])
    if dead:
        log.info("embedded PostgreSQL: forgot processes gone", extra={"pids": dead})
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL kept in `data_dir/pgdata`; answer its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver does not need it.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed without DATABASE_URL

    pgdata = (data_dir / "pgdata").resolve()
    if pgdata not in _embedded:
        try:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirectoryError(
                f"SYNCLINE_DATA_DIR={data_dir}: cannot be made ({exc.strerror});"
                " allowed: a directory, or a path where one can be made"
            ) from None
        forget_dead_handles(pgdata)
        log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
        _embedded[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(_embedded[pgdata].get_uri())


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """`DATABASE_URL` when set, else the embedded database."""
    return database_url or embedded_database_url(data_dir)


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def with_application_name(url: str, name: str) -> str:
    """The same URL, its sessions named `name` in `pg_stat_activity` (63 bytes at most),
    unless the URL names them already (the operator's name wins)."""
    params = conninfo_to_dict(url)
    params.setdefault("application_name", name[:63])
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def process_name(role: str) -> str:
    """What a process's sessions are called: `syncline <role> <host>:<pid>`."""
    return f"syncline {role} {socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Budget:
    """The PostgreSQL sessions one process of a role holds at most (see
    docs/internals/connections.md): `pool` for our SQL, `event_store` for the event
    store's reads, and `fixed` for the sessions each role keeps one of (the group-commit
    flusher; the API's listener; the worker's leader session and the delivery worker's two)."""

    pool: int
    event_store: int
    fixed: int

    @property
    def total(self) -> int:
        return self.pool + self.event_store + self.fixed


# The defaults: ≤ 5 sessions per API process, ≤ 8 per worker.
BUDGETS = {
    "api": Budget(pool=2, event_store=1, fixed=2),  # + flusher, change listener
    "worker": Budget(pool=3, event_store=1, fixed=4),  # + flusher, leader, delivery x 2
}


def pool_sizes(role: str, pool: int | None, event_store: int | None) -> tuple[int, int, int]:
    """(our pool, the event store's pool, its overflow) for a process of `role`: the
    configured sizes, else the role's budget; a role without one (dev, replay, audit,
    tests) gets 10, and the event store as many again in overflow."""
    budget = BUDGETS.get(role)
    size = pool or (budget.pool if budget else 10)
    store = event_store or (budget.event_store if budget else size)
    return size, store, 0 if budget or event_store else store


def eventsourcing_env(
    url: str, pool_size: int = 10, max_overflow: int | None = None
) -> dict[str, str]:
    """The `eventsourcing` library's environment for a PostgreSQL URL: its pool holds
    `pool_size` connections, and up to `max_overflow` more (as many again by default)."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size if max_overflow is None else max_overflow),
        # The library's name for its pool's checkout timeout (not libpq's connect_timeout).
        "POSTGRES_CONNECT_TIMEOUT": str(EVENT_STORE_CHECKOUT_SECONDS),
        # Check each connection as it leaves the pool: one whose backend was terminated is
        # replaced instead of failing a write.
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y",
    }


def heard_from_server(conn: Any) -> bool:
    """Whether an idle connection's server has sent it anything since its last statement
    (or the connection is not in a good state). A server that ends a session says so
    first, or at least closes its socket (a terminated backend, a shutdown, a crash
    restart, `idle_session_timeout`): the socket turns readable. One `poll()` with no
    wait, instead of a round trip."""
    if conn.closed or conn.broken or conn.pgconn.status != ConnStatus.OK:
        return True
    return unread_input(conn)


class SiblingCheck:
    """A pool's `check`, run on the connection leaving the pool: one empty statement when
    its server has sent it something while it sat idle (`heard_from_server`), and when
    that fails, the same check on every idle connection (`ConnectionPool.check`). A
    connection the server said nothing to goes out unchecked: checking every one cost a
    round trip per request. (A connection silently cut off, with no word and no closed
    socket, fails at its first statement instead, and so does one taken in the instant
    between its backend being told to end and its saying so: that request's answer is a
    503 with Retry-After, and the requests after it find the socket readable.)

    Backends die together (an operator's `pg_terminate_backend` on the deployment, a
    failover, a server restart). psycopg_pool replaces a dead connection found at checkout
    and tries the next one, but waits 1 s, 2 s, 4 s ... between failed checks: walking a
    pool of ten dead connections would stall a request or a projection for tens of
    seconds. Checking them all at the first failure leaves only live (or new) connections,
    so the next try succeeds at once."""

    def __init__(self) -> None:
        self.pool: ConnectionPool[Any] | None = None

    def attach(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool
        # psycopg_pool takes `check` only in its constructor, and the event store builds its
        # pool itself.
        pool._check = self

    def __call__(self, conn: Any) -> None:
        if not heard_from_server(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if self.pool is not None:
                self.pool.check()
            raise


# Start-up: how long one attempt to open a pool waits, and the backoff between attempts.
OPEN_ATTEMPT_SECONDS = 30.0
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
# Running: how long taking a connection from our pool may wait before it fails (a request
# then answers 503 with Retry-After) ...
CHECKOUT_SECONDS = 5.0
# ... and from the event store's pool. The library tries each read up to 10 times, so
# a read waits about ten times this while the database refuses connections.
EVENT_STORE_CHECKOUT_SECONDS = 1
# While the server refuses connections, a pool's background attempts to reconnect back
# off exponentially (1 s, 2 s, 4 s, ...) for this long, then stop until a request wants a
# connection again (which starts at once): so a pool is back within a few seconds of its
# server, however long the outage, instead of after a backoff that grew with it.
RECONNECT_SECONDS = 4.0


def _autocommit(conn: psycopg.Connection[Any]) -> None:
    """As a connection comes back to the pool (idle: the pool has ended any transaction):
    autocommit again, whatever its borrower set. Readers count on it (one statement, one
    round trip; `projections.range_scan`)."""
    conn.autocommit = True


def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "",
    attempt_seconds: float = OPEN_ATTEMPT_SECONDS,
) -> ConnectionPool:
    """A psycopg connection pool for our own SQL (read models, outbox, tracking).

    Each connection is checked as it leaves the pool (`SiblingCheck`: if its server sent
    it anything while idle, one empty statement), so one whose backend was terminated is
    replaced instead of failing a request, and its dead siblings with it. Each comes back
    autocommit, whatever its borrower set (`_autocommit`). While the server
    is down or refuses connections (too many clients, starting up), opening retries with
    backoff (FIRST_RETRY_SECONDS doubling up to MAX_RETRY_SECONDS) for as long as it
    takes: a process waits for its database rather than exiting."""
    delay = FIRST_RETRY_SECONDS
    while True:
        check = SiblingCheck()
        pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            name=name or None,
            open=False,
            kwargs={"autocommit": True},
            timeout=CHECKOUT_SECONDS,
            reconnect_timeout=RECONNECT_SECONDS,
            check=check,
            reset=_autocommit,
        )
        check.pool = pool
        try:
            pool.open(wait=True, timeout=attempt_seconds)
        except PoolTimeout as error:
            pool.close()
            log.warning(
                "the database is not reachable; retrying",
                extra={"pool": name, "retry_in_seconds": delay, "error": str(error)},
            )
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            continue
        return pool
