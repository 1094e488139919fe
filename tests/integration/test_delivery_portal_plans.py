"""The portal's reads stay bounded by a page on a large history: their plans walk the
webhook's own indexes. The rows are made in a transaction that is rolled back, analysed
so the planner sees them as autovacuum would (nobody else sees them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from delivery.listing import DeliveryFilter, page_query, walks_an_index
from delivery.stats import STATS
from projections.range_scan import RANGE_PLAN
from syncline.runtime import Runtime
from tests.support.deliveries import DELIVERIES

# One webhook with most of the rows, and another tenant's newer deliveries on top: walking
# the primary key backwards would filter through all of those first.
MINE, THEIRS = 40_000, 8_000

ATTEMPTS = """
INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome, latency_ms)
SELECT d.id, d.subscription_id, %(at)s - d.position * interval '30 seconds',
    CASE WHEN d.position %% 50 = 0 THEN 'http_error' ELSE 'delivered' END, 10
FROM webhook_deliveries d WHERE d.subscription_id = %(sub)s
"""


def plan_of(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> str:
    rows = conn.execute("EXPLAIN " + query, params).fetchall()  # type: ignore[operator]
    return "\n".join(row[0] for row in rows)


def page_params(subscription_id: UUID, tenant_id: UUID) -> dict[str, Any]:
    """`page_query`'s parameters for the first page of 50, with no filter."""
    return {
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "before": None,
        "event_type": None,
        "occurred_after": None,
        "occurred_before": None,
        "status": None,
        "limit": 51,
    }


def test_pages_and_stats_walk_the_webhooks_own_indexes(runtime: Runtime, database_url: str) -> None:
    mine, theirs, tenant = uuid4(), uuid4(), uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(database_url) as conn:  # rolled back
        conn.execute(DELIVERIES, {"sub": mine, "tenant": tenant, "at": now, "n": MINE})
        conn.execute(
            DELIVERIES,
            {"sub": theirs, "tenant": uuid4(), "at": now + timedelta(hours=1), "n": THEIRS},
        )
        conn.execute(ATTEMPTS, {"sub": mine, "at": now})  # two weeks of them
        conn.execute("ANALYZE webhook_deliveries")
        conn.execute("ANALYZE webhook_attempts")
        params = page_params(mine, tenant)

        first = plan_of(conn, page_query(DeliveryFilter(), None), params)
        assert "webhook_deliveries_list" in first, first
        assert "webhook_deliveries_pkey" not in first, first
        # The index gives the deliveries' order (another test's few pending rows may be
        # sorted for a join: that is not the page's order).
        assert "Sort Key: d." not in first, first
        assert "Sort Key: (d." not in first, first

        failed = plan_of(
            conn, page_query(DeliveryFilter(status="failed"), None), {**params, "status": "failed"}
        )
        assert "webhook_attempts_failures" in failed, failed
        assert "Nested Loop" in failed, failed
        assert "Seq Scan on webhook_deliveries" not in failed, failed
        assert "Hash Join" not in failed, failed

        stats = plan_of(
            conn,
            STATS,
            {
                "subscription_id": mine,
                "tenant_id": tenant,
                "start": now - timedelta(hours=24),
                "end": now,
            },
        )
        assert "webhook_attempts_subscription_time" in stats, stats
        assert "Seq Scan on webhook_attempts" not in stats, stats
        conn.rollback()


def test_a_webhook_grown_since_the_last_analyze_pages_by_its_index(
    runtime: Runtime, database_url: str
) -> None:
    """A webhook whose deliveries came after the table was analyzed (estimated at a few
    rows) still pages by walking its index, not by reading and sorting every delivery."""
    now = datetime.now(UTC)
    mine, tenant = uuid4(), uuid4()
    params = page_params(mine, tenant)
    with psycopg.connect(database_url) as conn:  # rolled back
        for _ in range(1_000):
            conn.execute(DELIVERIES, {"sub": uuid4(), "tenant": uuid4(), "at": now, "n": 4})
        conn.execute("ANALYZE webhook_deliveries")
        conn.execute(DELIVERIES, {"sub": mine, "tenant": tenant, "at": now, "n": 30_000})
        plans = []
        for filters, index in [
            (DeliveryFilter(), "webhook_deliveries_list"),
            (DeliveryFilter(event_type="contact.created"), "webhook_deliveries_type"),
        ]:
            assert walks_an_index(filters)
            conn.execute(RANGE_PLAN)  # as list_deliveries does for these pages
            plan = plan_of(
                conn, page_query(filters, None), {**params, "event_type": filters.event_type}
            )
            assert f"Index Scan Backward using {index}" in plan, plan
            plans.append(plan)
        conn.rollback()
    for plan in plans:
        assert "Bitmap Heap Scan on webhook_deliveries" not in plan, plan
        assert "Sort Key: d." not in plan, plan
    assert not walks_an_index(DeliveryFilter(status="failed"))
    assert not walks_an_index(DeliveryFilter(occurred_before=now))
