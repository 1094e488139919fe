"""EventLogProjection: the index of every public event of a tenant, in log order.

A row holds what the event log's filters need (time, the event id's key, record, type), not
the envelope: the event store holds the event, and the envelope is rendered from it when it
is read (projections.events.log), so an event's JSON is stored once, in the event store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.envelope import isoformat
from domain.events import public_type
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import public_event_id

# A rendered envelope has an empty cursor; readers put the tenant's cursor for the event's
# position in its place (the cursor needs the API's key).
CURSOR_PLACEHOLDER = '"cursor":""'

_INSERT = """
    INSERT INTO event_log (tenant_id, position, occurred_at, event_key, entity_id, type)
    SELECT * FROM unnest(
        %s::uuid[], %s::int8[], %s::timestamptz[], %s::int8[], %s::uuid[], %s::text[]
    )
"""


def event_key(public_id: str) -> int | None:
    """The index key of an event id (`evt_` and 32 hex digits): its first 64 bits, as a
    signed bigint; None for text that is not an event id."""
    if len(public_id) != 36 or not public_id.startswith("evt_"):
        return None
    try:
        return int.from_bytes(bytes.fromhex(public_id[4:20]), "big", signed=True)
    except ValueError:
        return None


class EventLogProjection(PreparingProjection):
    """The audit log's read model: one row per public event, never updated."""

    name = "events"
    # Auditors browse it; in a backlog the change feed and webhooks go first (CatchUpOrder).
    catches_up_later = True

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[Any] | None:
        """The insert's parameters (runs without the database); None: nothing to insert."""
        rows = []
        for position, event in events:
            event_type = public_type(event)
            if event_type is None:
                continue
            rows.append(
                (
                    event.meta["tenant_id"],
                    position,
                    isoformat(event.timestamp),  # the timestamp as text (see array_literal)
                    event_key(public_event_id(event)),
                    event.originator_id,
                    event_type,
                )
            )
        if not rows:
            return None
        return [array_literal(list(column)) for column in zip(*rows, strict=True)]

    def write(self, cur: psycopg.Cursor[Any], prepared: list[Any] | None) -> None:
        if prepared is not None:
            cur.execute(_INSERT, prepared)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE event_log")
