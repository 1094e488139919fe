"""RecordsProjection: keeps one row per live contact and order, with its latest state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.envelope import render_record
from domain.record import Record
from projections.json import json_text

TABLES = {"contact": "contacts", "order": "orders"}

SCHEMA = (
    [
        f"""
    CREATE TABLE IF NOT EXISTS {table} (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        version bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        data json NOT NULL  -- json, not jsonb: keeps the representation byte for byte
    )
    """
        for table in TABLES.values()
    ]
    + [
        f"CREATE INDEX IF NOT EXISTS {table}_tenant_created ON {table} (tenant_id, created_at, id)"
        for table in TABLES.values()
    ]
    + [
        f"CREATE INDEX IF NOT EXISTS {table}_tenant_updated ON {table} (tenant_id, updated_at, id)"
        for table in TABLES.values()
    ]
)

_UPSERT = """
    INSERT INTO {table} (id, tenant_id, version, created_at, updated_at, data)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, updated_at = excluded.updated_at, data = excluded.data
    WHERE {table}.version < excluded.version
"""


class RecordsProjection:
    """Live records by tenant; a deleted record's row is removed."""

    name = "records"
    schema = SCHEMA

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for _, event in events:
            if not isinstance(event, Record.Created | Record.Updated | Record.Deleted):
                continue
            resource = type(event).__qualname__.split(".")[0].lower()
            table = TABLES.get(resource)
            if table is None:
                continue
            if isinstance(event, Record.Deleted):
                cur.execute(f"DELETE FROM {table} WHERE id = %s", (event.originator_id,))
                continue
            data = render_record(
                event.originator_id, event.state, event.originator_version, event.timestamp
            )
            cur.execute(
                _UPSERT.format(table=table),
                (
                    event.originator_id,
                    event.meta["tenant_id"],
                    event.originator_version,
                    data["created_at"],
                    event.timestamp,
                    json_text(data),
                ),
            )

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        for table in TABLES.values():
            cur.execute(f"TRUNCATE {table}")
