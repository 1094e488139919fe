"""The portal's deliveries page at 1,000,000 deliveries: request time of the first page, a
deep page and filtered pages of `GET /v1/webhooks/{id}/deliveries`, against the same
page's SQL run directly (the raw limit). Target: p99 < 200 ms.

The deliveries are bulk-inserted with SQL (a read benchmark: how they got there does not
matter), spread over 30 days, five event types and 50,000 records: 2% failed after two
attempts, the newest 500 pending, the rest delivered at the first attempt. Another
tenant's webhook gets a fifth as many, interleaved, so the table is not one webhook's
(the planner then reads it as it would in production). The deep page's
cursor is made with the deployment's cursor key (walking 5,000 pages to get there would
be the benchmark's own cost). Times are measured by a keep-alive client on the same
machine, one request at a time: the server's time plus a loopback round trip.
`python -m bench portal`; BENCH_PORTAL_DELIVERIES and BENCH_PORTAL_REQUESTS change sizes.
"""

from __future__ import annotations

import http.client
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID, uuid4

import httpx
import psycopg

from bench.harness import BenchEnv, Figure, provision
from delivery.listing import DeliveryFilter, page_query
from projections.cursor import CursorCodec
from syncline.database import open_pool
from syncline.runtime import cursor_key

DELIVERIES = int(os.environ.get("BENCH_PORTAL_DELIVERIES", "1000000"))
REQUESTS = int(os.environ.get("BENCH_PORTAL_REQUESTS", "200"))
PAGE = 50
CHUNK = 100_000
PENDING = 500
TYPES = ["contact.created", "contact.updated", "order.created", "order.placed", "order.paid"]
SPAN = timedelta(days=30)
NOISE_TENANT = UUID("00000000-0000-4000-8000-00000000000a")

INSERT_DELIVERIES = """
INSERT INTO webhook_deliveries (public_id, subscription_id, tenant_id, entity_id, position,
    enqueued_position, origin, event_id, event_type, correlation_id, body, created_at,
    enqueued_at)
SELECT gen_random_uuid(), %(sub)s, %(tenant)s,
    ('00000000-0000-4000-8000-' || lpad(to_hex(i %% 50000), 12, '0'))::uuid, i, i, 'log',
    'evt_' || md5(i::text), (%(types)s::text[])[1 + i %% 5], 'bench',
    convert_to('{"id":"evt_' || i || '","type":"order.paid","data":{"total":4200}}', 'UTF8'),
    %(start)s + (i * %(step)s) * interval '1 second',
    %(start)s + (i * %(step)s) * interval '1 second'
FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS i
"""
# Two failed attempts for every 50th delivery, one delivered attempt for the others; none for
# the newest, which stay pending.
INSERT_ATTEMPTS = """
INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,
    status_code, latency_ms, error)
SELECT d.id, d.subscription_id, d.created_at + (n * interval '5 seconds'),
    CASE WHEN d.position %% 50 = 0 THEN 'http_error' ELSE 'delivered' END,
    CASE WHEN d.position %% 50 = 0 THEN 503 ELSE 200 END, 20 + (d.position %% 97),
    CASE WHEN d.position %% 50 = 0 THEN 'HTTP 503' END
FROM webhook_deliveries d
CROSS JOIN LATERAL generate_series(1, CASE WHEN d.position %% 50 = 0 THEN 2 ELSE 1 END) AS n
WHERE d.subscription_id = %(sub)s AND d.position BETWEEN %(low)s AND %(high)s
    AND d.position <= %(last_settled)s
"""
INSERT_PENDING = """
WITH p AS (
    INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id, next_attempt_at)
    SELECT subscription_id, entity_id, id, created_at FROM webhook_deliveries
    WHERE subscription_id = %(sub)s AND position > %(last_settled)s
    RETURNING subscription_id, entity_id, next_attempt_at
)
INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)
SELECT subscription_id, entity_id, min(next_attempt_at) FROM p GROUP BY 1, 2
"""


def build(database_url: str, tenant: UUID, webhook: UUID, start: datetime) -> float:
    """Insert the deliveries, their attempts and the pending backlog, and another tenant's
    deliveries in between; answers seconds."""
    began = time.monotonic()
    last_settled = DELIVERIES - PENDING
    # The other tenant's webhook: one of each build's own (`make bench` builds twice, for
    # the API's pages and for the portal's, in one database).
    noise_webhook = uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for low in range(1, DELIVERIES + 1, CHUNK):
            high = min(low + CHUNK - 1, DELIVERIES)
            step = SPAN.total_seconds() / DELIVERIES
            for sub, owner, low_i, high_i, step_i in [
                (webhook, tenant, low, high, step),
                (noise_webhook, NOISE_TENANT, (low - 1) // 5 + 1, high // 5, step * 5),
            ]:
                params = {
                    "types": TYPES,
                    "start": start,
                    "step": step_i,
                    "sub": sub,
                    "tenant": owner,
                    "low": low_i,
                    "high": high_i,
                    "last_settled": last_settled if sub == webhook else DELIVERIES,
                }
                conn.execute(INSERT_DELIVERIES, params)
                conn.execute(INSERT_ATTEMPTS, params)
            print(f"   {high:,} deliveries", flush=True)
        conn.execute(INSERT_PENDING, {"sub": webhook, "last_settled": last_settled})
        for table in ("webhook_deliveries", "webhook_attempts", "webhook_pending"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return time.monotonic() - began


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def api_times(url: str, key: str, path: str, params: dict[str, Any]) -> list[float]:
    """Milliseconds per request of REQUESTS sequential GETs on one keep-alive connection."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port)
    headers = {"Authorization": f"Bearer {key}"}
    target = f"{path}?{urlencode(params)}"
    times = []
    try:
        for _ in range(REQUESTS + 5):
            started = time.perf_counter()
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, body[:500]
    finally:
        connection.close()
    return times[5:]  # the first requests warm the connection and the caches


def sql_times(
    database_url: str, query: str, params: dict[str, Any], runs: int = REQUESTS
) -> list[float]:
    """Milliseconds per execution of the page's own SQL (the raw limit)."""
    times = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(runs + 5):
            started = time.perf_counter()
            conn.execute(query, params).fetchall()  # type: ignore[arg-type]
            times.append((time.perf_counter() - started) * 1000)
    return times[5:]


def explain(database_url: str, query: str, params: dict[str, Any]) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {query}",  # type: ignore[arg-type]
            params,
        ).fetchall()
    return "\n".join(f"      {row[0]}" for row in rows)


def run(env: BenchEnv) -> list[Figure]:
    url = env.start_api()
    tenant, key = provision(url, "Portal")
    answer = httpx.post(
        f"{url}/v1/webhooks",
        json={"url": "https://hooks.example.com/portal", "event_types": ["contact.*", "order.*"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    answer.raise_for_status()
    webhook = UUID(answer.json()["id"])
    start = datetime.now(UTC) - SPAN
    seconds = build(env.database_url, tenant, webhook, start)
    print(f"   built {DELIVERIES:,} deliveries in {seconds:.0f} s", flush=True)

    pool = open_pool(env.database_url, min_size=1, max_size=1)
    try:
        codec = CursorCodec(cursor_key(pool))
    finally:
        pool.close()
    with psycopg.connect(env.database_url) as conn:
        row = conn.execute(
            "SELECT id FROM webhook_deliveries WHERE subscription_id = %s AND position = %s",
            (webhook, DELIVERIES // 2),
        ).fetchone()
    middle = int(row[0]) if row else 0
    deep_cursor = codec.encode("deliveries", tenant, [str(webhook), middle])
    path = f"/v1/webhooks/{webhook}/deliveries"
    day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases: list[tuple[str, dict[str, Any], DeliveryFilter, int | None]] = [
        ("first page", {}, DeliveryFilter(), None),
        ("deep page (500,000th)", {"cursor": deep_cursor}, DeliveryFilter(), middle),
        ("status=failed", {"status": "failed"}, DeliveryFilter(status="failed"), None),
        (
            "status=failed, deep",
            {"status": "failed", "cursor": deep_cursor},
            DeliveryFilter(status="failed"),
            middle,
        ),
        ("status=pending", {"status": "pending"}, DeliveryFilter(status="pending"), None),
        (
            "event_type=order.paid",
            {"event_type": "order.paid"},
            DeliveryFilter(event_type="order.paid"),
            None,
        ),
        (
            "occurred_after=1 day ago",
            {"occurred_after": day_ago},
            DeliveryFilter(occurred_after=datetime.fromisoformat(day_ago)),
            None,
        ),
    ]
    figures = []
    for name, params, filters, before in cases:
        query = page_query(filters, before)
        sql_params = {
            "subscription_id": webhook,
            "tenant_id": tenant,
            "before": before,
            "event_type": filters.event_type,
            "occurred_after": filters.occurred_after,
            "occurred_before": filters.occurred_before,
            "status": filters.status,
            "limit": PAGE + 1,
        }
        if os.environ.get("BENCH_EXPLAIN"):
            print(f"   plan of {name}:\n{explain(env.database_url, query, sql_params)}")
        api = api_times(url, key, path, {"limit": PAGE, **params})
        raw = sql_times(env.database_url, query, sql_params)
        p50, p99 = statistics.median(api), percentile(api, 0.99)
        raw_p50, raw_p99 = statistics.median(raw), percentile(raw, 0.99)
        print(
            f"   {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            f" (its SQL alone: p50 {raw_p50:.2f} ms, p99 {raw_p99:.2f} ms)",
            flush=True,
        )
        figures.append(
            Figure(
                f"deliveries {name} p99",
                p99,
                "ms",
                "its SQL alone, p99",
                raw_p99,
                target="p99 < 200 ms",
            )
        )
        figures.append(Figure(f"deliveries {name} p50", p50, "ms", "its SQL alone, p50", raw_p50))
    return figures
