"""RecordsProjection: one row per live record of every resource, with its latest state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

import domain.events  # noqa: F401  (registers the record resources)
from domain.event_classes import per_class
from domain.record import Record
from domain.resources import resource_of
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

# One statement per batch: arrays in binary format, unnested server-side.
_UPSERT = """
    INSERT INTO records AS r (resource, id, tenant_id, version, created_at, updated_at, data)
    SELECT * FROM unnest(
        %s::text[], %s::uuid[], %s::uuid[], %s::int8[], %s::timestamptz[], %s::timestamptz[],
        %b::text[]::json[]
    )
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, updated_at = excluded.updated_at, data = excluded.data
    WHERE r.version < excluded.version
"""
_DELETE = "DELETE FROM records WHERE id = ANY(%b::uuid[])"


class RecordsProjection(PreparingProjection):
    """Live records by tenant and resource (the `records` table); a deleted record's row is
    removed. Inline: the group commit writes it with the events (syncline.inline).

    A batch is compacted to each record's last event (every event carries the record's
    full state), then written with one upsert and one delete.
    """

    name = "records"
    inline = True
    # Behind (a rebuild, an older database), lists are for browsing: in a backlog the
    # feed and webhooks go first (CatchUpOrder).
    catches_up_later = True

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[tuple[str, Any]]:
        """The statements' SQL and parameters, in order (runs without the database)."""
        latest: dict[UUID, tuple[str, Any]] = {}
        for _, event in events:
            resource = _resource_changed(event)
            if resource is not None:
                latest[event.originator_id] = (resource, event)
        upserts: list[tuple[Any, ...]] = []
        deletes: list[UUID] = []
        for resource, event in latest.values():
            if isinstance(event, Record.Deleted):
                deletes.append(event.originator_id)
                continue
            text = event_text(event)
            upserts.append(
                (
                    resource,
                    event.originator_id,
                    event.meta["tenant_id"],
                    event.originator_version,
                    event.state.get("created_at"),  # as the representation shows it
                    text.occurred_at,  # the timestamp as text (see array_literal)
                    text.representation,
                )
            )
        statements: list[tuple[str, Any]] = []
        if upserts:
            *columns, data = (list(c) for c in zip(*upserts, strict=True))
            statements.append((_UPSERT, [*map(array_literal, columns), data]))
        if deletes:
            statements.append((_DELETE, (deletes,)))
        return statements

    def write(self, cur: psycopg.Cursor[Any], prepared: list[tuple[str, Any]]) -> None:
        for statement, parameters in prepared:
            cur.execute(statement, parameters)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE records")


def _resource_for(kind: type) -> str | None:
    """The resource whose record an event of this class changes (None: no record's)."""
    resource = resource_of(kind)
    if resource is not None and issubclass(kind, Record.Created | Record.Updated | Record.Deleted):
        return resource.name
    return None


_resource_changed = per_class(_resource_for)
