"""RecordHistory: one record's public events, read from its own stream in the event store.

A record's history is its stream (`originator_id`), so it is read where it is written: a
history read after a write returned includes it, whatever a projection's lag. Each event
is answered with its position (its notification id, for the page's cursors) and its
envelope, rendered as the event log stores it (with an empty cursor the caller fills in).
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application
from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.events import public_type
from projections.event_decoder import EventDecoder
from projections.rendering import envelope_json


class HistoryPage(NamedTuple):
    items: list[tuple[int, str]]  # (position, envelope with an empty cursor), oldest first
    has_more: bool


class RecordHistory:
    def __init__(self, pool: ConnectionPool, app: Application[Any]) -> None:
        self.pool = pool
        self.decoder = EventDecoder(app.mapper)
        recorder: Any = app.recorder
        # A record's stream, by the event store's primary key (originator_id, version).
        self._select = (
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {} WHERE originator_id = %s AND notification_id > %s"
                " ORDER BY originator_version LIMIT %s"
            )
            .format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))
            .as_string()
        )

    def page(self, tenant_id: UUID, record_id: UUID, *, after: int, limit: int) -> HistoryPage:
        """Up to `limit` public events of the record after position `after`. The caller has
        checked that the record is the tenant's; events of another tenant are never answered."""
        with self.pool.connection() as conn:
            rows = conn.execute(self._select, (record_id, after, limit + 1)).fetchall()
        items: list[tuple[int, str]] = []
        for position, originator_id, version, topic, state in rows[:limit]:
            event = self.decoder.decode(originator_id, version, topic, state)
            event_type = public_type(event)
            if event_type is None or event.meta.get("tenant_id") != str(tenant_id):
                continue
            items.append((position, envelope_json(event, event_type, "").decode()))
        return HistoryPage(items, len(rows) > limit)
