"""The operator's tenant search (`GET /admin/tenants?q=`, the console's search box): tenants
whose name starts with the query, ignoring case, or whose id starts with it.

A name prefix is a range of the `lower(name) text_pattern_ops` index (LIKE's wildcards in
the query are matched literally); an id prefix (hex digits, dashes optional) is a range of
the primary key. Results page like the list, oldest first, by `(created_at, id)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

MAX_QUERY = 200
HEX_PREFIX = re.compile(r"[0-9a-f-]{1,36}")

PAGE = """
SELECT id, name, created_at, status FROM tenants WHERE {where}
ORDER BY created_at, id LIMIT %(limit)s
"""
NAME_MATCH = "lower(name) LIKE %(name_prefix)s"
ID_MATCH = "id BETWEEN %(id_low)s::uuid AND %(id_high)s::uuid"
AFTER = "(created_at, id) > (%(after_at)s::timestamptz, %(after_id)s::uuid)"


def like_prefix(text: str) -> str:
    """A LIKE pattern matching strings that start with `text` (its wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def id_range(query: str) -> tuple[UUID, UUID] | None:
    """The ids starting with `query` (hex digits in UUID order, dashes ignored), as the
    lowest and highest, or None if it cannot start an id."""
    if not HEX_PREFIX.fullmatch(query):
        return None
    digits = query.replace("-", "")
    if not digits or len(digits) > 32:
        return None
    return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))


def search_tenants(
    pool: ConnectionPool,
    query: str | None,
    *,
    limit: int,
    after: Sequence[Any] | None = None,
) -> tuple[list[tuple[Any, ...]], bool]:
    """Up to `limit` tenants (matching `query`, when given) after the keyset `after`
    (created_at, id), oldest first, as (id, name, created_at, status) rows; and whether
    there are more."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit + 1}
    if query is not None:
        text = query.strip().lower()
        params["name_prefix"] = like_prefix(text)
        ids = id_range(text)
        if ids is None:
            where = [NAME_MATCH]
        else:
            where = [f"({NAME_MATCH} OR {ID_MATCH})"]
            params["id_low"], params["id_high"] = ids
    if after is not None:
        where.append(AFTER)
        params["after_at"], params["after_id"] = after
    with pool.connection() as conn:
        rows = conn.execute(PAGE.format(where=" AND ".join(where)), params).fetchall()  # type: ignore[arg-type]
    return rows[:limit], len(rows) > limit
