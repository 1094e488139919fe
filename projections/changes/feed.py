"""ChangeFeed: reads pages of a tenant's change feed (the view side of ChangesProjection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.runner import read_position

# Each item is built by PostgreSQL as compact JSON (without its cursor, which needs our
# key), so a page costs one index range scan and no per-field work in Python.
_PAGE = """
    SELECT c.position, (
        SELECT row_to_json(item)::text FROM (
            SELECT c.resource_type, c.id, c.version, c.deleted,
                   to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                       AS changed_at,
                   c.event_type, c.data
        ) AS item
    )
    FROM changes AS c
    WHERE c.tenant_id = %s AND c.position > %s {filter}
    ORDER BY c.position
    LIMIT %s
"""


@dataclass(frozen=True)
class ChangePage:
    """Up to `limit` changes after a position, oldest first: `(position, item JSON)` pairs."""

    items: list[tuple[int, str]]
    has_more: bool


class ChangeFeed:
    """A tenant's changes in log order; each record once, at the position of its last change.

    It never skips: rows only ever move to positions above the projection's tracking
    position, which is at least the position of every row a reader has been shown.
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
        params: list[object] = [tenant_id, after]
        where = ""
        if resource_types:
            where = "AND c.resource_type = ANY(%s)"
            params.append(list(resource_types))
        params.append(limit + 1)
        with self.pool.connection() as conn:
            rows = conn.execute(_PAGE.format(filter=where), params, prepare=True).fetchall()  # type: ignore[arg-type]
        return ChangePage(items=rows[:limit], has_more=len(rows) > limit)

    def head(self) -> int:
        """The position the feed has reached: every change up to it is in the feed."""
        return read_position(self.pool, "changes")
