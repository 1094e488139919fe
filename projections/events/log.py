"""EventLog: reads a tenant's event log (the view side of EventLogProjection).

The `event_log` table is an index: which events a page holds, in which order. Each
envelope is rendered from the event store's row when it is read, by the same function that
renders it for webhooks (domain.envelope), so an event's JSON is stored once. An envelope is
a function of its event: the text served for an event is the same at every read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.envelope import envelope
from domain.envelope import event_id as public_event_id
from domain.events import public_type
from projections.event_decoder import EventDecoder
from projections.events.projection import event_key
from projections.range_scan import fetch_range

_encode = msgspec.json.Encoder().encode
# One decoder per application (its Mapper), kept for the process: it memoizes event classes.
# A process has one application; tests make many, so past a few the memo starts again.
_decoders: dict[int, tuple[Any, EventDecoder]] = {}
_DECODERS = 8


@dataclass(frozen=True)
class EventPage:
    """Up to `limit` events after a position, in log order: `(position, envelope JSON)`,
    each envelope with an empty cursor (`"cursor":""`)."""

    items: list[tuple[int, str]]
    has_more: bool


def event_store_table(app: Application[Any]) -> sql.Composable:
    """The event store's table (the eventsourcing library's, in its schema)."""
    recorder: Any = app.recorder
    return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)


class StoredEventUnreadableError(ValueError):
    """A row of the event store that no longer decodes (altered or damaged): no page that
    holds it can be shown as it was stored."""

    def __init__(self, position: int, originator_id: UUID, version: int) -> None:
        self.position = position
        self.event_id = public_event_id(originator_id, version)
        super().__init__(
            f"the stored event {self.event_id} (log position {position}) does not decode:"
            " the event store was altered or damaged (`syncline audit verify` reports it)"
        )


class EnvelopeRenderer:
    """Envelopes (cursor left empty) from event store rows."""

    def __init__(self, app: Application[Any]) -> None:
        mapper = app.mapper
        found = _decoders.get(id(mapper))
        if found is None or found[0] is not mapper:
            if len(_decoders) >= _DECODERS:
                _decoders.clear()
            found = _decoders[id(mapper)] = (mapper, EventDecoder(mapper))
        self.decoder = found[1]

    def render(self, originator_id: UUID, version: int, topic: str, state: bytes) -> str:
        """The envelope of one stored event, as JSON text with an empty cursor."""
        event = self.decoder.decode(originator_id, version, topic, bytes(state))
        event_type = public_type(event)
        if event_type is None:  # not a public event: never in the event log
            raise ValueError(f"event {originator_id}/{version} ({topic}) is not public")
        return _encode(envelope(event, event_type, "")).decode()

    def rows(self, rows: Iterable[tuple[Any, ...]]) -> list[tuple[int, str]]:
        """`(position, envelope)` of `(position, originator_id, version, topic, state)` rows;
        StoredEventUnreadableError, naming it, for a row that no longer decodes."""
        render = self.render
        rendered = []
        for row in rows:
            try:
                rendered.append((int(row[0]), render(*row[1:])))
            except Exception as exc:
                raise StoredEventUnreadableError(int(row[0]), row[1], int(row[2])) from exc
        return rendered


class EventLog:
    """A tenant's public events in commit order; every filter is served by an index."""

    def __init__(self, pool: ConnectionPool, app: Application[Any]) -> None:
        self.pool = pool
        self.renderer = EnvelopeRenderer(app)
        self.events = event_store_table(app)

    def page(
        self,
        tenant_id: UUID,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] | None = None,
        entity_id: UUID | None = None,
        entity_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EventPage:
        query, params = self.page_query(
            tenant_id,
            after=after,
            limit=limit,
            types=types,
            entity_id=entity_id,
            entity_type=entity_type,
            since=since,
            until=until,
        )
        filtered = (types, entity_id, entity_type, since, until) != (None,) * 5
        with self.pool.connection() as conn:
            if filtered:  # a filter can leave the range sparse: the planner decides
                rows = conn.execute(query, params).fetchall()
            else:  # a range of the log's key, whatever the statistics say
                rows = fetch_range(conn, query, params)
        return EventPage(items=self.renderer.rows(rows[:limit]), has_more=len(rows) > limit)

    def page_query(
        self,
        tenant_id: UUID,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] | None = None,
        entity_id: UUID | None = None,
        entity_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[sql.Composed, list[object]]:
        """The page query for `limit` events after `after` (one more, to tell `has_more`):
        rows of (position, originator_id, originator_version, topic, state)."""
        where: list[sql.Composable] = [sql.SQL("e.tenant_id = %s AND e.position > %s")]
        params: list[object] = [tenant_id, after]
        if types is not None:
            where.append(sql.SQL("e.type = ANY(%s)"))
            params.append(list(types))
        if entity_id is not None:
            # A record's events are a range of the event store's primary key.
            where.append(
                sql.SQL(
                    "e.position IN (SELECT notification_id FROM {} WHERE originator_id = %s)"
                ).format(self.events)
            )
            params.append(entity_id)
        if entity_type is not None:
            where.append(sql.SQL("split_part(e.type, '.', 1) = %s"))
            params.append(entity_type)
        if since is not None:
            where.append(sql.SQL("e.occurred_at >= %s"))
            params.append(since)
        if until is not None:
            where.append(sql.SQL("e.occurred_at < %s"))
            params.append(until)
        params.append(limit + 1)
        # The page's positions first, then each one's event by the store's notification id
        # index: a lookup per event, whatever share of the log the tenant's events are (a
        # merge join would walk the store's index over every tenant's events in between).
        query = sql.SQL(
            "SELECT e.position, s.originator_id, s.originator_version, s.topic, s.state"
            " FROM (SELECT e.position FROM event_log e WHERE {} ORDER BY e.position LIMIT %s) e"
            " CROSS JOIN LATERAL (SELECT * FROM {} s WHERE s.notification_id = e.position) s"
            " ORDER BY e.position"
        ).format(sql.SQL(" AND ").join(where), self.events)
        return query, params

    def get(self, tenant_id: UUID, event_id: str) -> tuple[int, str] | None:
        """One event by its public id (`evt_…`), or None."""
        key = event_key(event_id)
        if key is None:
            return None
        query = sql.SQL(
            "SELECT e.position, s.originator_id, s.originator_version, s.topic, s.state"
            " FROM event_log e JOIN {} s ON s.notification_id = e.position"
            " WHERE e.event_key = %s AND e.tenant_id = %s ORDER BY e.position"
        ).format(self.events)
        with self.pool.connection() as conn:
            rows = conn.execute(query, (key, tenant_id)).fetchall()
        # The key is the id's first 64 bits: the id itself decides between namesakes.
        for row in rows:
            if public_event_id(row[1], row[2]) == event_id:
                return self.renderer.rows([row])[0]
        return None

    def index(
        self, tenant_id: UUID, *, after: int, until: int, limit: int
    ) -> list[tuple[int, str, UUID, datetime]]:
        """`(position, type, entity id, occurred at)` of up to `limit` of the tenant's events after
        position `after` and up to `until`, in log order (what a replay selects from)."""
        with self.pool.connection() as conn:
            rows = fetch_range(
                conn,
                "SELECT position, type, entity_id, occurred_at FROM event_log"
                " WHERE tenant_id = %s AND position > %s AND position <= %s"
                " ORDER BY position LIMIT %s",
                (tenant_id, after, until, limit),
            )
        return [(int(p), str(t), e, at) for p, t, e, at in rows]
