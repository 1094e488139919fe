"""A change feed from before session 4 (`changed_at` a timestamptz) is migrated on start to
the text the feed has always served, and the next start changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import psycopg
import pytest

from domain.envelope import isoformat
from projections.changes.projection import SCHEMA

OLD_CHANGES = """
    CREATE TABLE changes (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        resource_type text NOT NULL,
        version bigint NOT NULL,
        deleted boolean NOT NULL,
        changed_at timestamptz NOT NULL,
        event_type text NOT NULL,
        data json,
        position bigint NOT NULL,
        PRIMARY KEY (tenant_id, id)
    )
"""
# Formatted as every page read did before the migration.
OLD_PAGE_TIME = "to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def apply(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        for statement in SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]


def test_changed_at_becomes_the_text_the_feed_served(fresh_database: str) -> None:
    tenant = uuid4()
    moments = [
        datetime(2026, 11, 29, 16, 11, 14, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: still six digits
        datetime(2026, 6, 30, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-7))),
    ]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(OLD_CHANGES)
        for position, moment in enumerate(moments, start=1):
            conn.execute(
                "INSERT INTO changes VALUES (%s, %s, 'contact', 1, false, %s,"
                " 'contact.created', '{}', %s)",
                (tenant, uuid4(), moment, position),
            )
        served = [
            row[0] for row in conn.execute(f"SELECT {OLD_PAGE_TIME} FROM changes ORDER BY position")
        ]

        apply(conn)
        migrated = [
            row[0] for row in conn.execute("SELECT changed_at FROM changes ORDER BY position")
        ]
        assert migrated == served == [isoformat(moment) for moment in moments]
        kind = (
            "SELECT atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = 'changes'::regclass AND attname = 'changed_at'"
        )
        assert conn.execute(kind).fetchone() == ("text",)

        # A writer from before (its time a timestamptz, cast to text in its session's zone)
        # is turned away rather than leaving rows the feed would serve in another format.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO changes VALUES (%s, %s, 'contact', 1, false, %s::timestamptz,"
                " 'contact.created', '{}', 99)",
                (tenant, uuid4(), moments[0]),
            )

        apply(conn)  # the next start: nothing to do
        again = [row[0] for row in conn.execute("SELECT changed_at FROM changes ORDER BY position")]
        assert again == migrated
