"""The portal's reads stay bounded by a page on a large history: their plans walk the
webhook's own indexes. The rows are made in a transaction that is rolled back, analysed
so the planner sees them as autovacuum would (nobody else sees them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg

from delivery.listing import DeliveryFilter, page_query
from delivery.stats import STATS
from syncline.runtime import Runtime

# One webhook with most of the rows, and another tenant's newer deliveries on top: walking
# the primary key backwards would filter through all of those first.
MINE, THEIRS = 40_000, 8_000

DELIVERIES = """
INSERT INTO webhook_deliveries (public_id, subscription_id, tenant_id, entity_id, position,
    enqueued_position, origin, event_id, event_type, correlation_id, body, created_at)
SELECT gen_random_uuid(), %(sub)s, %(tenant)s, gen_random_uuid(), i, i, 'log', 'evt_' || i,
    'contact.created', 'plan', '\\x7b7d', %(at)s - i * interval '1 second'
FROM generate_series(1, %(n)s) AS i
"""
ATTEMPTS = """
INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome, latency_ms)
SELECT d.id, d.subscription_id, %(at)s - d.position * interval '30 seconds',
    CASE WHEN d.position %% 50 = 0 THEN 'http_error' ELSE 'delivered' END, 10
FROM webhook_deliveries d WHERE d.subscription_id = %(sub)s
"""


def plan_of(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> str:
    rows = conn.execute("EXPLAIN " + query, params).fetchall()  # type: ignore[operator]
    return "\n".join(row[0] for row in rows)


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
        params = {
            "subscription_id": mine,
            "tenant_id": tenant,
            "before": None,
            "event_type": None,
            "occurred_after": None,
            "occurred_before": None,
            "status": None,
            "limit": 51,
        }

        first = plan_of(conn, page_query(DeliveryFilter(), None), params)
        assert "webhook_deliveries_list" in first, first
        assert "webhook_deliveries_pkey" not in first, first
        assert "Sort" not in first, first  # the index gives the order

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
