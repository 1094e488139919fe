"""A list page is a range of the list index in `created_at` order, whatever the number of a
tenant's records: no sequential scan and no full sort (ties on `created_at`, rare, are
sorted as they come), with or without a cursor; tombstones are never listed."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest

from projections.records.view import list_query
from syncline.runtime import Runtime
from tests.support.records import insert_records

ROWS = 60_000


@pytest.mark.parametrize("cursor", [False, True], ids=["first page", "with a cursor"])
def test_a_list_page_is_an_index_range_scan(
    runtime: Runtime, database_url: str, cursor: bool
) -> None:
    tenant, other = uuid4(), uuid4()
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        insert_records(conn, tenant, other, ROWS)
        after = (datetime.now(UTC), uuid4()) if cursor else None
        query, params = list_query("contact", tenant, 100, after)
        plan = "\n".join(
            row[0]
            for row in conn.execute("EXPLAIN " + query, params).fetchall()  # type: ignore[arg-type]
        )
        conn.rollback()
    assert "Seq Scan" not in plan, plan
    assert "Index Scan using records_tenant_resource_created" in plan, plan
    nodes = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
    assert not [node for node in nodes if node.startswith("Sort  (")], plan  # no full sort
    if cursor:
        assert "created_at >=" in plan, plan  # the cursor bounds the range scan
