"""ChangesProjection: the change feed's rows, one per record, keyed by its last change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg

from domain.envelope import isoformat
from domain.event_classes import instance_of
from domain.events import public_type
from domain.record import Record
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

# Notified once per tenant per batch (payload: the tenant id), after the rows commit:
# long-polling readers of that tenant wake up, nobody else's do.
CHANGES_CHANNEL = "syncline_changes"

_UPSERT = """
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
_NOTIFY = "SELECT pg_notify(%s, t) FROM unnest(%b::text[]) AS t"


class _Upsert(NamedTuple):
    parameters: list[Any]
    tenants: list[str]


class ChangesProjection(PreparingProjection):
    """The compacted change feed: each record's latest state at the position of its last
    change; a deleted record stays as a tombstone (`deleted`, no data)."""

    name = "changes"

    def prepare(self, events: Sequence[tuple[int, Any]]) -> _Upsert | None:
        """The upsert's parameters and the tenants to notify (runs without the database)."""
        latest: dict[UUID, tuple[int, Any, str]] = {}
        for position, event in events:
            event_type = public_type(event)
            # Records only: webhook.* events are in the event log, not the change feed.
            if event_type is not None and _RECORD_EVENT(event):
                latest[event.originator_id] = (position, event, event_type)
        if not latest:
            return None
        rows = [
            _row(position, event, event_type) for position, event, event_type in latest.values()
        ]
        *columns, data = (list(column) for column in zip(*rows, strict=True))
        return _Upsert([*map(array_literal, columns), data], sorted({row[0] for row in rows}))

    def write(self, cur: psycopg.Cursor[Any], prepared: _Upsert | None) -> None:
        if prepared is not None:
            cur.execute(_UPSERT, prepared.parameters)
            cur.execute(_NOTIFY, (CHANGES_CHANNEL, prepared.tenants))

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE changes")


def _row(position: int, event: Any, event_type: str) -> tuple[Any, ...]:
    deleted = isinstance(event, Record.Deleted)
    if deleted:
        data, changed_at = None, isoformat(event.timestamp)
    else:
        text = event_text(event)
        data, changed_at = text.representation, text.occurred_at
    return (
        event.meta["tenant_id"],  # text, cast by PostgreSQL: cheaper than UUID() here
        event.originator_id,
        event_type.split(".")[0],
        event.originator_version,
        deleted,
        changed_at,  # isoformat(): the text the feed serves
        event_type,
        position,
        data,  # last: JSON text, sent as a text[] (array_literal() is for the other columns)
    )
