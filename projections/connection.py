"""Whether a database error is a lost connection: the session, not the work, failed; and
whether a connection's server has sent it something not yet read.

A backend terminated by an operator or a failover (`pg_terminate_backend`, AdminShutdown),
a server restarting or refusing connections, a socket that closed: retrying the same work
on a new connection succeeds, so a runner reconnects at once instead of counting a
failure and backing off. An error the server raised for the work itself (a constraint, a
statement timeout, a bad value) is not one of these.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg

# SQLSTATEs that say the session ended or could not start: class 08 (connection
# exception) by prefix; admin_shutdown, crash_shutdown, cannot_connect_now; and
# too_many_connections (the server is full: a new session may get in shortly).
LOST_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc`, or an error it was raised from, is a lost or refused connection.

    psycopg raises OperationalError with no SQLSTATE for client-side losses ("the
    connection is closed", "consuming input failed", a refused connect) and the pool's
    PoolTimeout; the event store wraps psycopg's errors in its own (`raise ... from`), so
    the causes are followed too."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, psycopg.OperationalError):
            state = error.sqlstate
            if state is None or state.startswith("08") or state in LOST_STATES:
                return True
        if isinstance(error, psycopg.InterfaceError):
            return True  # the connection object is closed
        error = error.__cause__
    return False


def unread_input(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether the connection's socket holds something not yet read: one `poll()` with no
    wait, which reads nothing (libpq closes a socket when it reads a session's end). A
    connection without a socket (closed) has nothing to read."""
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
