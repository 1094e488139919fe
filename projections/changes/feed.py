"""ChangeFeed: reads pages of a tenant's change feed from the `records` table (written by
RecordsProjection: each record once, at the position of its last change)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import ConnectionPool

from domain.events import RESOURCE_TYPES
from projections.range_scan import fetch_range
from projections.records.keys import RESOURCE_KEY
from projections.tracking import read_position

# PostgreSQL writes each item's JSON, less its opening brace and its cursor (which needs the
# API's key): `"resource_type":"order",…,"data":{…}}`. Only `data` holds client text, and
# it is stored as JSON already; the other members are identifiers, numbers, booleans and
# the time the projection wrote as ISO 8601 text (`changed_at`), so plain concatenation is
# valid JSON — and cheaper than row_to_json() (the page query is most of the cost of a page).
#
# It comes as UTF-8 bytea in binary format: psycopg hands bytea over as `bytes` in C, the
# items go into the response as they are, and the connection's client encoding does not
# matter (a text column needed a loader written in Python, 0.3 ms of a 1000-item page).
_ITEM = """convert_to(concat(
        '"resource_type":"', resource, '","id":"', id, '","version":', version,
        ',"deleted":', deleted::text,  -- 'true'/'false' (concat alone writes t/f)
        ',"changed_at":"', changed_at,
        '","event_type":"', event_type, '","data":', coalesce(data::text, 'null'), '}'
    ), 'UTF8')"""
# One resource type's changes: a range of the (tenant and resource, position) index.
_RANGE = f"""
    SELECT position, {{columns}} FROM records
    WHERE {RESOURCE_KEY} AND tenant_id = %s AND resource = %s AND position > %s
    ORDER BY position
    LIMIT %s
"""
# Several types (every type: the whole feed): each type's range, merged in position order
# (a Merge Append that reads each range only as far as the page needs).
_MERGED = "SELECT position, {item} FROM ({ranges}) AS changes ORDER BY position LIMIT %s"
_COLUMNS = "resource, id, version, deleted, changed_at, event_type, data"


def page_query(
    tenant_id: UUID, after: int, limit: int, resource_types: Sequence[str] | None = None
) -> tuple[str, list[object]]:
    """The page query for `limit` changes after `after` (one more, to tell `has_more`).

    Each type is an equality on the index's key, never `= ANY()`: so each is a range of
    the index, and a rare type costs no more than a common one, filtered or not."""
    wanted = sorted(set(resource_types or RESOURCE_TYPES))
    if len(wanted) == 1:
        query = _RANGE.format(columns=_ITEM)
        return query, [tenant_id, wanted[0], tenant_id, wanted[0], after, limit + 1]
    ranges = " UNION ALL ".join(f"({_RANGE.format(columns=_COLUMNS)})" for _ in wanted)
    params: list[object] = []
    for resource in wanted:
        params += [tenant_id, resource, tenant_id, resource, after, limit + 1]
    params.append(limit + 1)
    return _MERGED.format(item=_ITEM, ranges=ranges), params


@dataclass(frozen=True)
class ChangePage:
    """Up to `limit` changes after a position, oldest first: `(position, item)` pairs, each
    item being its JSON object (UTF-8) without the opening brace and the cursor."""

    items: list[tuple[int, bytes]]
    has_more: bool


class ChangeFeed:
    """A tenant's changes in log order; each record once, at the position of its last change.

    It never skips: rows only ever move to positions above the records projection's
    tracking position, which is at least the position of every row a reader has been
    shown (inline, the rows commit with their events, in id order under the event store's
    lock; behind, the projection's runner writes them batch by batch).
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(
        self,
        tenant_id: UUID,
        after: int,
        limit: int,
        resource_types: Sequence[str] | None = None,
    ) -> ChangePage:
        query, params = page_query(tenant_id, after, limit, resource_types)
        with self.pool.connection() as conn:
            rows = fetch_range(conn, query, params, binary=True)
        return ChangePage(items=rows[:limit], has_more=len(rows) > limit)

    def head(self) -> int:
        """The position the feed has reached: every change up to it is in the feed."""
        return read_position(self.pool, "records")
