"""The operator's tenant search (`GET /admin/tenants?q=`, the console's search box): tenants
whose name starts with the query, ignoring case, or whose id starts with it.

A name prefix is a range of the `lower(name) text_pattern_ops` index (LIKE's wildcards in
the query are matched literally); an id prefix (hex digits, dashes optional) is a range of
the primary key. Results page like the list, oldest first, by `(created_at, id)`
(`TenantsView.tenants(query=…)`).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

MAX_QUERY = 200
HEX_PREFIX = re.compile(r"[0-9a-f-]{1,36}")

NAME_MATCH = "lower(name) LIKE %s"
ID_MATCH = "id BETWEEN %s::uuid AND %s::uuid"


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


def tenant_match(query: str) -> tuple[str, list[Any]]:
    """The WHERE condition (and its parameters) of tenants matching `query`."""
    text = query.strip().lower()
    ids = id_range(text)
    if ids is None:
        return NAME_MATCH, [like_prefix(text)]
    return f"({NAME_MATCH} OR {ID_MATCH})", [like_prefix(text), *ids]
