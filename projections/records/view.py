"""RecordsView: pages of a tenant's live records of one resource, from the `records` table
(tombstones of deleted records, which the change feed shows, are left out).

The table is written inline (in the transaction of the events: syncline.inline), so a page
read after a write returned includes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.range_scan import fetch_range
from projections.records.keys import RESOURCE_KEY


class RecordPage(NamedTuple):
    # (representation as JSON text, created_at, id), oldest first
    rows: list[tuple[str, datetime, UUID]]
    has_more: bool


def list_query(
    resource: str,
    tenant_id: UUID,
    limit: int,
    after: tuple[datetime | str, UUID | str] | None = None,
    updated_since: datetime | None = None,
) -> tuple[str, list[object]]:
    """The list page's query (one row more than `limit`, to tell `has_more`)."""
    # Led by the index's key (projections.records.keys); tombstones are not listed.
    where = [RESOURCE_KEY, "tenant_id = %s", "resource = %s", "NOT deleted"]
    params: list[object] = [tenant_id, resource, tenant_id, resource]
    if after is not None:
        where.append("(created_at, id) > (%s::timestamptz, %s::uuid)")
        params += list(after)
    if updated_since is not None:
        where.append("updated_at >= %s")
        params.append(updated_since)
    params.append(limit + 1)
    query = (
        f"SELECT data::text, created_at, id FROM records WHERE {' AND '.join(where)}"
        " ORDER BY created_at, id LIMIT %s"
    )
    return query, params


class RecordsView:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(
        self,
        resource: str,
        tenant_id: UUID,
        *,
        limit: int,
        after: tuple[datetime | str, UUID | str] | None = None,
        updated_since: datetime | None = None,
    ) -> RecordPage:
        """Up to `limit` live records keyed by `(created_at, id)` after `after`, oldest first.

        A stable order for browsing; syncing is what the change feed is for (a slow
        concurrent create can land behind a page already read).
        """
        query, params = list_query(resource, tenant_id, limit, after, updated_since)
        with self.pool.connection() as conn:
            if updated_since is None:  # a range of the list index, whatever the statistics say
                rows = fetch_range(conn, query, params)
            else:  # rows updated since a time can be sparse in it: the planner decides
                rows = conn.execute(query, params).fetchall()  # type: ignore[arg-type]
        return RecordPage(rows[:limit], len(rows) > limit)
