"""RecordsProjection: each record's latest state, once, for the record lists and the feed."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg

import domain.events  # noqa: F401  (registers the record resources)
from domain.envelope import isoformat
from domain.event_classes import per_class
from domain.events import public_type
from domain.record import Record
from domain.resources import resource_of
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

# Notified once per tenant per batch (payload: the tenant id), in the batch's transaction
# (so on its commit): long-polling readers of that tenant's feed wake up, nobody else's do.
CHANGES_CHANNEL = "syncline_changes"

_COLUMNS = (
    "id, tenant_id, version, position, created_at, updated_at, deleted, resource, event_type,"
    " changed_at, data"
)
_ARRAYS = """
    %s::uuid[], %s::uuid[], %s::int8[], {position}, %s::timestamptz[], %s::timestamptz[],
    %s::bool[], %s::text[], %s::text[], %s::text[], %b::text[]::json[]
"""
# One statement per batch: arrays in binary format, unnested server-side; the tenants'
# notifications go with it (a data-modifying WITH runs whatever the outer query reads).
_UPSERT = """
    WITH written AS (
        INSERT INTO records AS r ({columns})
        {rows}
        ON CONFLICT (id) DO UPDATE SET
            version = excluded.version, position = excluded.position,
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            deleted = excluded.deleted, event_type = excluded.event_type,
            changed_at = excluded.changed_at, data = excluded.data
        WHERE r.version < excluded.version
    )
    SELECT pg_notify(%s, t) FROM unnest(%s::text[]) AS t
"""
# Caught up by its runner: the positions come with the events.
_UPSERT_AT = _UPSERT.format(
    columns=_COLUMNS,
    rows="SELECT * FROM unnest(" + _ARRAYS.format(position="%s::int8[]") + ")",
)
# Inline (syncline.inline): one call writes the batch's events and its rows (migration
# 0013): each row's place is minus the place of its event in the batch (-1 for the first:
# an inline batch's events come with those as positions), and it takes that event's
# notification id from the insert. The function's parameters are the insert function's,
# then the upsert's.
_INSERT_RECORDS = (
    "SELECT * FROM {schema}.syncline_insert_records(%s, %s, %s, %s, %s,"
    + _ARRAYS.format(position="%s::int8[]")
    + ", %s, %s)"
)


class _Upsert(NamedTuple):
    statement: str | None  # None: inline, written by `with_insert`'s statement
    parameters: list[Any]


class RecordsProjection(PreparingProjection):
    """Every record by tenant and resource (the `records` table): its latest state at the
    position of its last change; a deleted record stays as a tombstone (`deleted`, no
    data), which the lists leave out and the change feed shows. Inline: the group commit
    writes it with the events (syncline.inline).

    A batch is compacted to each record's last event (every event carries the record's
    full state), then written with one upsert, which also notifies the feed's long-polls.
    """

    name = "records"
    inline = True
    # The change feed reads this table: in a backlog (a rebuild, an older database) it
    # goes first with the webhooks (CatchUpOrder).
    catches_up_later = False

    def prepare(self, events: Sequence[tuple[int, Any]]) -> _Upsert | None:
        """The upsert and its parameters (runs without the database). Events without a
        position yet (inline, before the insert: minus their place in the batch) take
        theirs in SQL."""
        latest: dict[UUID, tuple[int, Any, str, str]] = {}
        for position, event in events:
            resource = _resource_changed(event)
            event_type = public_type(event)
            # A record's change with a public type: webhook.* events are in the event log.
            if resource is not None and event_type is not None:
                latest[event.originator_id] = (position, event, resource, event_type)
        if not latest:
            return None
        rows = [_row(*change) for change in latest.values()]
        *columns, data = (list(column) for column in zip(*rows, strict=True))
        tenants = sorted({row[1] for row in rows})
        inline = any(row[3] <= 0 for row in rows)
        statement = None if inline else _UPSERT_AT
        parameters = [*map(array_literal, columns), data, CHANGES_CHANNEL, tenants]
        return _Upsert(statement, parameters)

    def write(self, cur: psycopg.Cursor[Any], prepared: _Upsert | None) -> None:
        if prepared is None:
            return
        if prepared.statement is None:
            raise RuntimeError("an inline batch of records is written with its insert")
        cur.execute(prepared.statement, prepared.parameters)

    def with_insert(
        self, schema: str, parameters: Sequence[Any], prepared: _Upsert | None
    ) -> tuple[str, list[Any]] | None:
        """The inline batch as one call (`syncline_insert_records()` in `schema`): the
        insert, with its `parameters`, then this batch's upsert; answers the insert's ids."""
        if prepared is None:
            return None
        return _insert_records(schema), [*parameters, *prepared.parameters]

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE records")


@functools.cache
def _insert_records(schema: str) -> str:
    return _INSERT_RECORDS.format(schema=schema)


def _row(position: int, event: Any, resource: str, event_type: str) -> tuple[Any, ...]:
    if isinstance(event, Record.Deleted):
        # A tombstone: what the feed shows of a deleted record.
        created_at, updated_at, data = None, isoformat(event.timestamp), None
    else:
        text = event_text(event)
        # created_at as the representation shows it; timestamps as text (see array_literal)
        created_at, updated_at = event.state.get("created_at"), text.occurred_at
        data = text.representation
    return (
        event.originator_id,
        event.meta["tenant_id"],  # text, cast by PostgreSQL: cheaper than UUID() here
        event.originator_version,
        position,
        created_at,
        updated_at,
        data is None,
        resource,
        event_type,
        updated_at,  # changed_at: the same time, as the text the feed serves (isoformat())
        data,  # last: JSON text, sent as a text[] (array_literal() is for the other columns)
    )


def _resource_for(kind: type) -> str | None:
    """The resource whose record an event of this class changes (None: no record's)."""
    resource = resource_of(kind)
    if resource is not None and issubclass(kind, Record.Created | Record.Updated | Record.Deleted):
        return resource.name
    return None


_resource_changed = per_class(_resource_for)
