"""Leadership: one runner at a time leads a projection, by a session advisory lock.

The leader holds `projection_lock(name)` on a dedicated session of its own, named for
operators; standbys retry the lock every STANDBY_INTERVAL and take over once the leader's
session ends (process exit, crash, lost connection). A rebuild holds the same lock.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from projections.locks import projection_lock

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
    """A dedicated session for projection `name`'s lock (and LISTEN), named for operators."""
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
