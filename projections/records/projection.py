"""RecordsProjection: keeps one row per live contact and order, with its latest state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

import domain.events  # noqa: F401  (registers the record resources TABLES is checked against)
from domain.event_classes import per_class
from domain.record import Record
from domain.resources import Parts, resource_of
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

# Each resource's table, by resource name (see domain.resources).
TABLES: Parts[str] = Parts(
    "records table",
    "projections/records/projection.py (TABLES) and a migration that creates it",
    {"contact": "contacts", "order": "orders"},
)
TABLES.check()

# One statement per table per batch: arrays in binary format, unnested server-side.
_UPSERT = """
    INSERT INTO {table} AS r (id, tenant_id, version, created_at, updated_at, data)
    SELECT * FROM unnest(
        %s::uuid[], %s::uuid[], %s::int8[], %s::timestamptz[], %s::timestamptz[],
        %b::text[]::json[]
    )
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, updated_at = excluded.updated_at, data = excluded.data
    WHERE r.version < excluded.version
"""
_DELETE = "DELETE FROM {table} WHERE id = ANY(%b::uuid[])"


class RecordsProjection(PreparingProjection):
    """Live records by tenant; a deleted record's row is removed.

    A batch is compacted to each record's last event (every event carries the record's
    full state), then written with one upsert and one delete per table.
    """

    name = "records"
    # Lists are for browsing (integrations sync from the change feed); in a backlog the
    # feed and webhooks go first (CatchUpOrder). Reads of one record use the event store.
    catches_up_later = True

    def __init__(self) -> None:
        TABLES.check()  # a resource without a table stops the worker at start

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[tuple[str, Any]]:
        """The statements' SQL and parameters, in order (runs without the database)."""
        latest: dict[UUID, tuple[str, Any]] = {}
        for _, event in events:
            table = _table_of(event)
            if table is not None:
                latest[event.originator_id] = (table, event)
        statements: list[tuple[str, Any]] = []
        for table in TABLES.values():
            upserts: list[tuple[Any, ...]] = []
            deletes: list[UUID] = []
            for event_table, event in latest.values():
                if event_table != table:
                    continue
                if isinstance(event, Record.Deleted):
                    deletes.append(event.originator_id)
                    continue
                text = event_text(event)
                upserts.append(
                    (
                        event.originator_id,
                        event.meta["tenant_id"],
                        event.originator_version,
                        event.state.get("created_at"),  # as the representation shows it
                        text.occurred_at,  # the timestamp as text (see array_literal)
                        text.representation,
                    )
                )
            if upserts:
                *columns, data = (list(c) for c in zip(*upserts, strict=True))
                statements.append(
                    (_UPSERT.format(table=table), [*map(array_literal, columns), data])
                )
            if deletes:
                statements.append((_DELETE.format(table=table), (deletes,)))
        return statements

    def write(self, cur: psycopg.Cursor[Any], prepared: list[tuple[str, Any]]) -> None:
        for statement, parameters in prepared:
            cur.execute(statement, parameters)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        for table in TABLES.values():
            cur.execute(f"TRUNCATE {table}")


def _table_for(kind: type) -> str | None:
    """The table an event of this class changes (None: not a record's state change)."""
    resource = resource_of(kind)
    if resource is not None and issubclass(kind, Record.Created | Record.Updated | Record.Deleted):
        return TABLES.get(resource.name)
    return None


_table_of = per_class(_table_for)
