"""EventLogProjection: every public event of a tenant with its envelope, in log order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from domain.envelope import envelope_text
from domain.events import public_type
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import event_text

# The envelope is stored with an empty cursor; readers put the tenant's cursor for the
# row's position in its place (the cursor needs the API's key, which the worker lacks).
CURSOR_PLACEHOLDER = '"cursor":""'

_INSERT = """
    INSERT INTO event_log (tenant_id, position, event_id, type, entity_type, entity_id,
                           entity_version, occurred_at, envelope)
    SELECT * FROM unnest(
        %s::uuid[], %s::int8[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::int8[],
        %s::timestamptz[], %b::text[]::json[]
    )
"""
_encoder = msgspec.json.Encoder()


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
            text = event_text(event)
            public = envelope_text(
                event, event_type, "", text.record_id, text.occurred_at, text.representation_raw()
            )
            rows.append(
                (
                    event.meta["tenant_id"],
                    position,
                    public["id"],
                    event_type,
                    event_type.split(".")[0],
                    event.originator_id,
                    event.originator_version,
                    text.occurred_at,  # the timestamp as text (see array_literal)
                    _encoder.encode(public).decode(),
                )
            )
        if not rows:
            return None
        *columns, envelopes = (list(column) for column in zip(*rows, strict=True))
        return [*map(array_literal, columns), envelopes]

    def write(self, cur: psycopg.Cursor[Any], prepared: list[Any] | None) -> None:
        if prepared is not None:
            cur.execute(_INSERT, prepared)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE event_log")
