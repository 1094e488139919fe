"""EventLog: reads a tenant's event log (the view side of EventLogProjection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class EventPage:
    """Up to `limit` events after a position, in log order: `(position, envelope JSON)`."""

    items: list[tuple[int, str]]
    has_more: bool


class EventLog:
    """A tenant's public events in commit order; every filter is served by an index."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

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
        where = ["tenant_id = %s", "position > %s"]
        params: list[object] = [tenant_id, after]
        if types is not None:
            where.append("type = ANY(%s)")
            params.append(list(types))
        if entity_id is not None:
            where.append("entity_id = %s")
            params.append(entity_id)
        if entity_type is not None:
            where.append("entity_type = %s")
            params.append(entity_type)
        if since is not None:
            where.append("occurred_at >= %s")
            params.append(since)
        if until is not None:
            where.append("occurred_at < %s")
            params.append(until)
        params.append(limit + 1)
        query = (
            f"SELECT position, envelope::text FROM event_log WHERE {' AND '.join(where)}"
            " ORDER BY position LIMIT %s"
        )
        with self.pool.connection() as conn:
            rows = conn.execute(query, params).fetchall()  # type: ignore[arg-type]
        return EventPage(items=rows[:limit], has_more=len(rows) > limit)

    def get(self, tenant_id: UUID, event_id: str) -> tuple[int, str] | None:
        """One event by its public id (`evt_…`), or None."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT position, envelope::text FROM event_log"
                " WHERE tenant_id = %s AND event_id = %s",
                (tenant_id, event_id),
            ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def index(
        self, tenant_id: UUID, *, after: int, until: int, limit: int
    ) -> list[tuple[int, str, UUID]]:
        """`(position, type, entity id)` of up to `limit` of the tenant's events after
        position `after` and up to `until`, in log order (what a replay selects from)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT position, type, entity_id FROM event_log"
                " WHERE tenant_id = %s AND position > %s AND position <= %s"
                " ORDER BY position LIMIT %s",
                (tenant_id, after, until, limit),
            ).fetchall()
        return [(int(p), str(t), e) for p, t, e in rows]
