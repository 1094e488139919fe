"""Tracking: each projection's position in the log, and whether its runner is failing.

`projection_tracking` holds one row per projection. A batch commits its rows and its new
position in one transaction (`advance`), guarded by the position it started from. Readers
(the change feed, replays) import `read_position` from here without the runner.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

# The longest error text kept in projection_tracking.last_error.
ERROR_TEXT = 500
# Projections announce each committed batch here (payload: "name:position").
PROJECTION_CHANNEL = "syncline_projection"


class LeadershipLostError(RuntimeError):
    """This runner's tracking position moved under it: another runner leads now."""


def read_position(pool: ConnectionPool, name: str) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def states(pool: ConnectionPool, *, timeout: float) -> list[tuple[str, int, float | None]]:
    """Every projection's `(name, position, seconds failing or None)`, by name; waits at most
    `timeout` seconds for a connection."""
    with pool.connection(timeout=timeout) as conn:
        rows = conn.execute(
            "SELECT name, position, extract(epoch FROM now() - failing_since)"
            " FROM projection_tracking ORDER BY name"
        ).fetchall()
    return [(str(n), int(p), None if f is None else float(f)) for n, p, f in rows]


def ensure_tracking(pool: ConnectionPool, name: str) -> None:
    """Give projection `name` its row (at position 0) if it has none."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
        )


def advance(cur: psycopg.Cursor[Any], name: str, position: int, last: int) -> None:
    """Move `name` from `position` to `last` within the batch's transaction (see
    `advance_many`)."""
    advance_many(cur, [(name, position)], last)


# One statement for any number of projections: each row moves only from the position its
# batch started at, and each moved row's announcement goes with it.
_ADVANCE = """
    WITH moved AS (
        UPDATE projection_tracking t SET position = %(last)s, updated_at = now(),
            failing_since = NULL, last_error = NULL
        FROM unnest(%(names)s::text[], %(positions)s::int8[]) AS m(name, position)
        WHERE t.name = m.name AND t.position = m.position
        RETURNING t.name
    )
    SELECT name, pg_notify(%(channel)s, name || ':' || %(last)s) FROM moved
"""


def advance_many(cur: psycopg.Cursor[Any], moves: list[tuple[str, int]], last: int) -> None:
    """Move each `(name, position)` of `moves` to `last` within the batch's transaction, in
    one statement, and announce each on PROJECTION_CHANNEL at commit. A batch that got
    through clears any failure on record. Raises LeadershipLostError when a position is no
    longer the one given: another runner leads that projection now."""
    if not moves:
        return
    names = [name for name, _ in moves]
    rows = cur.execute(
        _ADVANCE,
        {
            "names": names,
            "positions": [position for _, position in moves],
            "last": last,
            "channel": PROJECTION_CHANNEL,
        },
    ).fetchall()
    if len(rows) != len(moves):
        moved = {row[0] for row in rows}
        lost = [f"{name} at {position}" for name, position in moves if name not in moved]
        raise LeadershipLostError(f"projection {', '.join(lost)}: moved under us")


def position_for_update(cur: psycopg.Cursor[Any], name: str) -> int:
    """`name`'s position, its row locked until the transaction ends."""
    row = cur.execute(
        "SELECT position FROM projection_tracking WHERE name = %s FOR UPDATE", (name,)
    ).fetchone()
    return int(row[0]) if row else 0


def reset(cur: psycopg.Cursor[Any], name: str) -> None:
    """Set `name` back to the start of the log (a rebuild, within its transaction)."""
    cur.execute(
        "UPDATE projection_tracking SET position = 0, updated_at = now() WHERE name = %s",
        (name,),
    )


def record_failure(pool: ConnectionPool, name: str, exc: Exception) -> None:
    """Mark the projection as failing (since when, and why) for /metrics and operators;
    best effort: the database may be what failed."""
    try:
        with pool.connection(timeout=2) as conn:
            conn.execute(
                "UPDATE projection_tracking SET failing_since = coalesce(failing_since,"
                " now()), last_error = format('%%s after position %%s: %%s', %s::text,"
                " position, %s::text) WHERE name = %s",
                (type(exc).__name__, str(exc)[:ERROR_TEXT], name),
            )
    except Exception:  # the failure itself is logged already
        log.warning("could not record the failure", extra={"projection": name})


def clear_failure(pool: ConnectionPool, name: str) -> None:
    """It got through: it is not failing (any more). Each batch's commit clears the
    record too; this is for a failure with no batch after it (at the head)."""
    with pool.connection() as conn:
        conn.execute(
            "UPDATE projection_tracking SET failing_since = NULL, last_error = NULL"
            " WHERE name = %s AND failing_since IS NOT NULL",
            (name,),
        )


def wait_for_position(pool: ConnectionPool, name: str, position: int, timeout: float) -> bool:
    """Block until projection `name` reaches `position` (tests, CLI); False after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_position(pool, name) >= position:
            return True
        time.sleep(0.01)
    return False


def last_errors(pool: ConnectionPool) -> dict[str, str | None]:
    """Each projection's last recorded error (None once a batch got through), by name."""
    with pool.connection() as conn:
        rows = conn.execute("SELECT name, last_error FROM projection_tracking").fetchall()
    return {str(name): error for name, error in rows}
