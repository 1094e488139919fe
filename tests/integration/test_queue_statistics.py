"""A claim that shows the queue tables' statistics are stale (they were analyzed while empty,
and a burst filled them since) has the tables analyzed, so the settle and the next claims
are planned for their real size (delivery.statistics)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest

from delivery.queue import DeliveryQueue
from delivery.statistics import CHECK_FROM
from syncline.migrate import migrate
from tests.support.poll import wait_until

QUEUED = 2000


def believed_rows(conn: psycopg.Connection[object], table: str) -> float:
    row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))
    found = row.fetchone()
    assert found is not None
    return float(found[0])


def claim(database_url: str, limit: int) -> tuple[int, int]:
    """Claim `limit` queues twice on one queue session; answer how many each claim got."""

    async def run() -> tuple[int, int]:
        queue = await DeliveryQueue.connect(database_url)
        try:
            counts = []
            for _ in range(2):
                now = datetime.now(UTC)
                # Leased until now: claimable again, as if settled.
                claims = await queue.claim(
                    now=now, lease_until=now, limit=limit, per_endpoint=limit
                )
                counts.append(len(claims))
            return counts[0], counts[1]
        finally:
            await queue.close()

    return asyncio.run(run())


def queue_backlog(conn: psycopg.Connection[object], n: int) -> None:
    """`n` due queues of one endpoint, each with its pending delivery."""
    subscription = uuid4()
    conn.execute(
        "INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)"
        " SELECT %s, gen_random_uuid(), now() - interval '1 minute'"
        " FROM generate_series(1, %s)",
        (subscription, n),
    )
    conn.execute(
        "INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id,"
        " next_attempt_at) SELECT subscription_id, entity_id, row_number() OVER (), now()"
        " FROM webhook_queues WHERE subscription_id = %s",
        (subscription,),
    )
    # PostgreSQL counts the live rows as this session reports them: at once, here.
    conn.execute("SELECT pg_stat_force_next_flush()")
    assert wait_until(
        lambda: live_rows(conn, "webhook_queues") >= n and live_rows(conn, "webhook_pending") >= n
    )


def live_rows(conn: psycopg.Connection[object], table: str) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT pg_stat_get_live_tuples(%s::regclass)", (table,)).fetchone()
    assert row is not None
    return int(row[0])


def analyze_count(conn: psycopg.Connection[object]) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'webhook_queues'"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("believed", [1, 100])
def test_a_claim_has_stale_queue_statistics_refreshed(fresh_database: str, believed: int) -> None:
    migrate(fresh_database)  # a database of its own: its statistics are made up here
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        queue_backlog(conn, QUEUED)
        # What autovacuum leaves after analyzing the tables while they were (nearly) empty:
        # a row or two, or a hundred, over the pages they have now.
        conn.execute(
            "UPDATE pg_class SET reltuples = %s,"
            " relpages = greatest(1, pg_relation_size(oid) / 8192)"
            " WHERE oid IN ('webhook_queues'::regclass, 'webhook_pending'::regclass)",
            (believed,),
        )
        assert believed_rows(conn, "webhook_queues") == believed

        # A small claim is cheap whatever the plan: it checks nothing.
        assert claim(fresh_database, CHECK_FROM - 1) == (CHECK_FROM - 1, CHECK_FROM - 1)
        assert believed_rows(conn, "webhook_queues") == believed

        assert claim(fresh_database, 64) == (64, 64)
        assert believed_rows(conn, "webhook_queues") >= QUEUED * 0.9
        assert believed_rows(conn, "webhook_pending") >= QUEUED * 0.9


def test_a_claim_leaves_statistics_that_hold_the_backlog_alone(fresh_database: str) -> None:
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        queue_backlog(conn, 100)
        conn.execute("ANALYZE webhook_queues, webhook_pending")
        analyzed = analyze_count(conn)
        assert claim(fresh_database, 64) == (64, 64)
        assert believed_rows(conn, "webhook_queues") == 100
        assert analyze_count(conn) == analyzed
