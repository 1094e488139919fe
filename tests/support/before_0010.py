"""The change feed and the records read model as they were written before migration 0010
(two tables: `changes`, one row per record with tombstones, and `records`, live records
only), for tests that write a database at an earlier migration and migrate it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from domain.envelope import isoformat
from domain.event_classes import instance_of
from domain.events import public_type
from domain.record import Record
from domain.resources import resource_of
from projections.changes.feed import ChangePage
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

CHANGES_UPSERT = """
    INSERT INTO changes AS c
        (tenant_id, id, resource_type, version, deleted, changed_at, event_type, position, data)
    SELECT * FROM unnest(
        %s::uuid[], %s::uuid[], %s::text[], %s::int8[], %s::bool[], %s::text[],
        %s::text[], %s::int8[], %b::text[]::json[]
    )
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, deleted = excluded.deleted,
        changed_at = excluded.changed_at, event_type = excluded.event_type,
        data = excluded.data, position = excluded.position
    WHERE c.position < excluded.position
"""
_RECORD_EVENT = instance_of(Record.Event)


class ChangesBefore0010(PreparingProjection):
    """The `changes` table's projection: each record's latest state at the position of its
    last change; a deleted record as a tombstone (`deleted`, no data)."""

    name = "changes"

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[Any] | None:
        latest: dict[UUID, tuple[int, Any, str]] = {}
        for position, event in events:
            event_type = public_type(event)
            if event_type is not None and _RECORD_EVENT(event):
                latest[event.originator_id] = (position, event, event_type)
        if not latest:
            return None
        rows = []
        for position, event, event_type in latest.values():
            deleted = isinstance(event, Record.Deleted)
            if deleted:
                data, changed_at = None, isoformat(event.timestamp)
            else:
                text = event_text(event)
                data, changed_at = text.representation, text.occurred_at
            rows.append(
                (
                    event.meta["tenant_id"],
                    event.originator_id,
                    event_type.split(".")[0],
                    event.originator_version,
                    deleted,
                    changed_at,
                    event_type,
                    position,
                    data,
                )
            )
        *columns, data_column = (list(column) for column in zip(*rows, strict=True))
        return [*map(array_literal, columns), data_column]

    def write(self, cur: psycopg.Cursor[Any], prepared: list[Any] | None) -> None:
        if prepared is not None:
            cur.execute(CHANGES_UPSERT, prepared)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE changes")


class RecordsBefore0010(PreparingProjection):
    """The records read model's projection: live records only (a delete removes the row)."""

    name = "records"

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[tuple[str, Any]]:
        latest: dict[UUID, tuple[str, Any]] = {}
        for _, event in events:
            resource = resource_of(type(event))
            if resource is not None and isinstance(
                event, Record.Created | Record.Updated | Record.Deleted
            ):
                latest[event.originator_id] = (resource.name, event)
        upserts: list[tuple[Any, ...]] = []
        deletes: list[UUID] = []
        for resource_name, event in latest.values():
            if isinstance(event, Record.Deleted):
                deletes.append(event.originator_id)
                continue
            text = event_text(event)
            upserts.append(
                (
                    resource_name,
                    event.originator_id,
                    event.meta["tenant_id"],
                    event.originator_version,
                    event.state.get("created_at"),
                    text.occurred_at,
                    text.representation,
                )
            )
        statements: list[tuple[str, Any]] = []
        if upserts:
            *columns, data = (list(c) for c in zip(*upserts, strict=True))
            statements.append(
                (
                    "INSERT INTO records AS r"
                    " (resource, id, tenant_id, version, created_at, updated_at, data)"
                    " SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[], %s::int8[],"
                    " %s::timestamptz[], %s::timestamptz[], %b::text[]::json[])"
                    " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
                    " updated_at = excluded.updated_at, data = excluded.data"
                    " WHERE r.version < excluded.version",
                    [*map(array_literal, columns), data],
                )
            )
        if deletes:
            statements.append(("DELETE FROM records WHERE id = ANY(%b::uuid[])", (deletes,)))
        return statements

    def write(self, cur: psycopg.Cursor[Any], prepared: list[tuple[str, Any]]) -> None:
        for statement, parameters in prepared:
            cur.execute(statement, parameters)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE records")


# The feed's page as it was read from `changes`.
_PAGE = """
    SELECT position, convert_to(concat(
        '"resource_type":"', resource_type, '","id":"', id, '","version":', version,
        ',"deleted":', deleted::text,
        ',"changed_at":"', changed_at,
        '","event_type":"', event_type, '","data":', coalesce(data::text, 'null'), '}}'
    ), 'UTF8')
    FROM changes
    WHERE tenant_id = %s AND position > %s {filter}
    ORDER BY position
    LIMIT %s
"""


def feed_page_before_0010(
    url: str, tenant_id: UUID, after: int, limit: int, resource_type: str | None = None
) -> ChangePage:
    """A page of the change feed as `projections.changes.feed` read it from `changes`."""
    params: list[Any] = [tenant_id, after]
    where = ""
    if resource_type is not None:
        where = "AND resource_type = %s"
        params.append(resource_type)
    params.append(limit + 1)
    with psycopg.connect(url) as conn, conn.cursor(binary=True) as cur:
        rows = cur.execute(_PAGE.format(filter=where).encode(), params).fetchall()
    return ChangePage(items=rows[:limit], has_more=len(rows) > limit)
