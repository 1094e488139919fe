"""A projection_tracking table from before session 5 gains the failure columns on start,
keeps its rows, and the next start changes nothing."""

from __future__ import annotations

import psycopg

from projections.tracking import TRACKING_SCHEMA


def apply(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        for statement in TRACKING_SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]


def columns(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'projection_tracking'::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ).fetchall()
    return [str(row[0]) for row in rows]


def test_an_old_tracking_table_gains_the_failure_columns(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE projection_tracking (name text PRIMARY KEY,"
            " position bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO projection_tracking (name, position) VALUES ('changes', 42)")
        apply(conn)
        expected = ["name", "position", "updated_at", "failing_since", "last_error"]
        assert columns(conn) == expected
        row = conn.execute("SELECT * FROM projection_tracking").fetchone()
        assert row is not None
        assert (row[0], row[1], row[3], row[4]) == ("changes", 42, None, None)
        apply(conn)  # the next start
        assert columns(conn) == expected


def test_a_start_takes_no_lock_that_waits_for_running_batches(fresh_database: str) -> None:
    """Once the columns exist, applying the schema must not ALTER the table: that would wait
    for every running batch's lock, and hold up the batches behind it."""
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        apply(conn)
    with (
        psycopg.connect(fresh_database) as batch,  # a runner's batch, mid-transaction
        psycopg.connect(fresh_database, autocommit=True) as starting,
    ):
        batch.execute("UPDATE projection_tracking SET position = position")
        starting.execute("SET lock_timeout = '1s'")
        apply(starting)  # an ALTER here would time out waiting for the batch
        batch.rollback()
