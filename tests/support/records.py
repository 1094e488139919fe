"""Rows for the `records` table's plan tests: many records of another tenant around a few of
the tenant's, in a transaction the test rolls back (nobody else sees them)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

# Every tenth row is `tenant`'s, the rest `other`'s; every third an order, the rest contacts.
# Positions start far above any real one; each row is created a millisecond after the last.
_INSERT = (
    "INSERT INTO records (id, tenant_id, version, position, created_at, updated_at,"
    " deleted, resource, event_type, changed_at, data)"
    " SELECT gen_random_uuid(), CASE WHEN i %% 10 = 0 THEN %s ELSE %s END, 1,"
    " %s + i, now() + i * interval '1 ms', now(), false,"
    " CASE WHEN i %% 3 = 0 THEN 'order' ELSE 'contact' END, 'contact.created',"
    " '2026-11-30T00:00:00.000000Z', '{}'"
    " FROM generate_series(1, %s) AS i"
)
FIRST_POSITION = 10_000_000_000


def insert_records(conn: psycopg.Connection[Any], tenant: UUID, other: UUID, rows: int) -> None:
    """`rows` records (positions FIRST_POSITION + 1 on), then ANALYZE, as autovacuum would
    see a table this size (the statistics roll back with the rows)."""
    conn.execute(_INSERT, (other, tenant, FIRST_POSITION, rows))
    conn.execute("ANALYZE records")
