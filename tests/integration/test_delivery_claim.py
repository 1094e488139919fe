"""The fair claim, statement by statement in a transaction that is rolled back (nobody else
sees its rows): endpoints are served round-robin within their room, an open breaker holds an
endpoint and then lets one probe through, and a long backlog is read through the index, a
few rows per endpoint."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from delivery.queue import CLAIM, busy_json
from syncline.config import Settings
from syncline.runtime import Runtime

NOW = datetime.now(UTC)
LEASE = NOW + timedelta(seconds=15)


def queue(conn: psycopg.Connection[Any], endpoint: UUID, n: int, due: datetime) -> None:
    conn.execute(
        "INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)"
        " SELECT %s, gen_random_uuid(), %s - i * interval '1 ms' FROM generate_series(1, %s) i",
        (endpoint, due, n),
    )


def claim(
    conn: psycopg.Connection[Any],
    *,
    limit: int = 64,
    per_endpoint: int = 4,
    busy: dict[UUID, int] | None = None,
    now: datetime = NOW,
    lease_until: datetime = LEASE,
    share: int | None = None,
    allowances: dict[UUID, int] | None = None,
) -> Counter[UUID]:
    """Claims per endpoint."""
    params = {
        "now": now,
        "lease_until": lease_until,
        "limit": limit,
        "per_endpoint": per_endpoint,
        "share": per_endpoint if share is None else share,
        "busy": busy_json(busy or {}, allowances or {}),
    }
    return Counter(row[0] for row in conn.execute(CLAIM, params).fetchall())


def state(conn: psycopg.Connection[Any], endpoint: UUID) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT circuit, held_until FROM webhook_endpoint_state WHERE subscription_id = %s",
        (endpoint,),
    ).fetchone()


def test_endpoints_are_served_round_robin_within_their_room(
    runtime: Runtime, database_url: str
) -> None:
    backlog, newcomer, other = uuid4(), uuid4(), uuid4()
    with psycopg.connect(database_url) as conn:
        # The backlog is far older than the others' work: one FIFO would serve it first.
        queue(conn, backlog, 2000, NOW - timedelta(hours=1))
        queue(conn, newcomer, 3, NOW)
        queue(conn, other, 1, NOW)
        assert claim(conn) == Counter({backlog: 4, newcomer: 3, other: 1})
        # This worker has the backlog's 4 in flight: no room left for it, and the others'
        # queues are leased.
        assert claim(conn, busy={backlog: 4}) == Counter()
        # Sent: room again, for the backlog's next 4 (its first 4 are still leased).
        t1 = NOW + timedelta(seconds=1)
        assert claim(conn, now=t1, lease_until=t1 + timedelta(seconds=15)) == Counter({backlog: 4})
        # The newcomer has new work: it was served longest ago, so it goes first, however
        # much older the backlog's work is.
        queue(conn, newcomer, 2, t1)
        t2 = NOW + timedelta(seconds=2)
        assert claim(conn, limit=1, now=t2, lease_until=t2) == Counter({newcomer: 1})
        conn.rollback()


def test_an_endpoint_with_its_own_allowance_may_hold_more(
    fresh_database: str, test_settings: Settings
) -> None:
    """An endpoint that answers fast is allowed more claimed ahead (`delivery.ahead`): its
    own allowance, less what is claimed of it, is its room; every other endpoint keeps
    `per_endpoint`."""
    Runtime.open(dataclasses.replace(test_settings, database_url=fresh_database)).close()
    fast, other = uuid4(), uuid4()
    with psycopg.connect(fresh_database) as conn:
        queue(conn, fast, 100, NOW - timedelta(minutes=1))
        queue(conn, other, 100, NOW - timedelta(minutes=1))
        got = claim(
            conn,
            limit=200,
            per_endpoint=16,
            busy={fast: 10, other: 4},
            share=16,
            allowances={fast: 40},
        )
        assert got == Counter({fast: 30, other: 12})
        conn.rollback()


def test_a_claim_spreads_over_the_ready_endpoints(
    fresh_database: str, test_settings: Settings
) -> None:
    """Each endpoint may hold four times its in-flight limit (32 of 8), but one claim takes
    an equal part of itself from each ready endpoint (at least the in-flight limit), so a
    claim of 64 keeps eight endpoints' senders busy rather than two endpoints' 32 each.
    On a database of its own: the count of ready endpoints is the test's."""
    Runtime.open(dataclasses.replace(test_settings, database_url=fresh_database)).close()
    endpoints = [uuid4() for _ in range(8)]
    with psycopg.connect(fresh_database) as conn:
        for endpoint in endpoints:
            queue(conn, endpoint, 100, NOW - timedelta(minutes=1))
        spread = claim(conn, limit=64, per_endpoint=32, share=8)
        assert spread == Counter(dict.fromkeys(endpoints, 8))
        conn.rollback()
    alone = uuid4()
    with psycopg.connect(fresh_database) as conn:
        queue(conn, alone, 100, NOW - timedelta(minutes=1))
        # One endpoint ready: its whole room, up to the claim's limit.
        assert claim(conn, limit=64, per_endpoint=32, share=8) == Counter({alone: 32})
        conn.rollback()


def test_an_open_breaker_holds_its_endpoint_then_lets_one_probe_through(
    runtime: Runtime, database_url: str
) -> None:
    failing, healthy = uuid4(), uuid4()
    with psycopg.connect(database_url) as conn:
        queue(conn, failing, 10, NOW - timedelta(minutes=1))
        queue(conn, healthy, 2, NOW)
        conn.execute(
            "INSERT INTO webhook_endpoint_state (subscription_id, circuit, opened, held_until)"
            " VALUES (%s, 'open', 1, %s)",
            (failing, NOW + timedelta(seconds=30)),
        )
        held = claim(conn, lease_until=NOW + timedelta(minutes=5))
        assert held == Counter({healthy: 2})  # nothing of the held endpoint's is claimed
        after = NOW + timedelta(seconds=31)
        probe = claim(conn, now=after, lease_until=after + timedelta(seconds=15))
        assert probe == Counter({failing: 1})
        assert state(conn, failing) == ("half_open", after + timedelta(seconds=15))
        # While the probe is out, no other claim takes the endpoint's deliveries.
        assert claim(conn, now=after + timedelta(seconds=1)) == Counter()
        conn.rollback()


def test_a_claim_reads_a_long_backlog_through_the_index(
    runtime: Runtime, database_url: str
) -> None:
    endpoints = [uuid4() for _ in range(20)]
    with psycopg.connect(database_url) as conn:
        for endpoint in endpoints:
            queue(conn, endpoint, 2000, NOW - timedelta(minutes=5))
        # As autovacuum would see the table (statistics roll back with the rows).
        conn.execute("ANALYZE webhook_queues")
        params = {
            "now": NOW,
            "lease_until": LEASE,
            "limit": 64,
            "per_endpoint": 8,
            "share": 8,
            "busy": "[]",
        }
        plan = "\n".join(
            row[0]
            for row in conn.execute("EXPLAIN (ANALYZE, FORMAT TEXT) " + CLAIM, params).fetchall()
        )
        assert "Seq Scan on webhook_queues" not in plan, plan
        assert "webhook_queues_endpoint_due" in plan, plan
        # Rows read from the queues: a few per endpoint, not the 40,000 queued.
        scanned = [
            int(line.split("rows=")[2].split()[0]) * int(line.split("loops=")[-1].rstrip(")"))
            for line in plan.splitlines()
            if "Index Scan using webhook_queues_endpoint_due" in line
        ]
        assert scanned, plan
        assert sum(scanned) <= 64 + len(endpoints), plan
        conn.rollback()
