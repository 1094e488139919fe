"""A page of the change feed is an index range scan in position order, whatever the size of
the feed: no sequential scan and no sort, with or without a resource-type filter. Several
types (every type: no filter) merge each type's range in position order, reading each only
as far as the page needs."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from projections.changes.feed import page_query
from syncline.runtime import Runtime
from tests.support.records import FIRST_POSITION, insert_records

# Large enough that a page (1001 rows) is a small part of what follows the cursor, as in any
# feed worth paging: at 20,000 rows a single type's remainder was ~3,000 rows, and a
# bitmap scan and sort was sometimes estimated cheaper.
ROWS = 60_000


@pytest.mark.parametrize(
    ("types", "merged"),
    [
        (None, True),  # every type: each type's range, merged
        (["order"], False),
        (["contact"], False),
        (["contact", "order"], True),
    ],
    ids=["all", "orders", "contacts", "both types"],
)
def test_a_page_is_an_index_range_scan(
    runtime: Runtime, database_url: str, types: list[str] | None, merged: bool
) -> None:
    tenant, other = uuid4(), uuid4()
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        insert_records(conn, tenant, other, ROWS)
        query, params = page_query(tenant, FIRST_POSITION + ROWS // 2, 1000, types)
        plan = "\n".join(
            row[0]
            for row in conn.execute("EXPLAIN " + query, params).fetchall()  # type: ignore[arg-type]
        )
        conn.rollback()
    assert "Seq Scan" not in plan, plan
    nodes = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
    assert not [node for node in nodes if node.startswith(("Sort  (", "Incremental Sort"))], plan
    scans = plan.count("Index Scan using records_tenant_resource_position")
    assert scans == (2 if merged else 1), plan
    assert ("Merge Append" in plan) == merged, plan
