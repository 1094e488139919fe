"""The portal's deliveries page as a browser gets it, at 1,000,000 deliveries: request time
of the HTML page `/portal/endpoints/{id}/deliveries` (session cookie, the page rendered
with its 50 rows) for the first page, a deep page (the 500,000th delivery on) and failed
deliveries, against the page's SQL run directly (the raw limit). Target: p99 < 200 ms.

The data are those of `bench.portal` (built the same way, by its `build`). Times are
measured by a keep-alive client on the same machine, one request at a time: the server's
time plus a loopback round trip. `python -m bench portal_pages`; BENCH_PORTAL_DELIVERIES
and BENCH_PORTAL_REQUESTS change sizes.
"""

from __future__ import annotations

import http.client
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import httpx
import psycopg

from bench.harness import BenchEnv, Figure, provision
from bench.portal import DELIVERIES, PAGE, REQUESTS, SPAN, build, percentile, sql_times
from delivery.listing import DeliveryFilter, page_query


def session_cookie(url: str, key: str) -> str:
    """A portal session: ask for a link with the tenant's key, follow it, keep the cookie."""
    link = httpx.post(
        f"{url}/v1/portal-sessions", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    link.raise_for_status()
    followed = httpx.get(link.json()["url"], timeout=30)
    assert followed.status_code == 303, followed.text
    return f"syncline_portal={followed.cookies['syncline_portal']}"


def page_times(url: str, cookie: str, path: str, params: dict[str, Any]) -> list[float]:
    """Milliseconds per request of REQUESTS sequential GETs on one keep-alive connection."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port)
    target = f"{path}?{urlencode(params)}" if params else path
    times = []
    try:
        for _ in range(REQUESTS + 5):
            started = time.perf_counter()
            connection.request("GET", target, headers={"Cookie": cookie})
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, body[:500]
            assert body.count(b"<tr>") > PAGE // 2, "the page lists deliveries"
    finally:
        connection.close()
    return times[5:]  # the first requests warm the connection and the caches


def run(env: BenchEnv) -> list[Figure]:
    url = env.start_api()
    tenant, key = provision(url, "Portal pages")
    answer = httpx.post(
        f"{url}/v1/webhooks",
        json={"url": "https://hooks.example.com/portal", "event_types": ["contact.*", "order.*"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    answer.raise_for_status()
    webhook = UUID(answer.json()["id"])
    seconds = build(env.database_url, tenant, webhook, datetime.now(UTC) - SPAN)
    print(f"   built {DELIVERIES:,} deliveries in {seconds:.0f} s", flush=True)
    with psycopg.connect(env.database_url) as conn:
        row = conn.execute(
            "SELECT id FROM webhook_deliveries WHERE subscription_id = %s AND position = %s",
            (webhook, DELIVERIES // 2),
        ).fetchone()
    middle = int(row[0]) if row else 0
    cookie = session_cookie(url, key)
    path = f"/portal/endpoints/{webhook}/deliveries"
    cases: list[tuple[str, dict[str, Any], DeliveryFilter, int | None]] = [
        ("first page", {}, DeliveryFilter(), None),
        ("deep page (500,000th)", {"before": middle}, DeliveryFilter(), middle),
        ("state=failed", {"state": "failed"}, DeliveryFilter(status="failed"), None),
    ]
    figures = []
    for name, params, filters, before in cases:
        sql_params = {
            "subscription_id": webhook,
            "tenant_id": tenant,
            "before": before,
            "event_type": None,
            "occurred_after": None,
            "occurred_before": None,
            "status": filters.status,
            "limit": PAGE + 1,
        }
        page = page_times(url, cookie, path, params)
        raw = sql_times(env.database_url, page_query(filters, before), sql_params)
        p50, p99 = statistics.median(page), percentile(page, 0.99)
        raw_p50, raw_p99 = statistics.median(raw), percentile(raw, 0.99)
        print(
            f"   {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            f" (its SQL alone: p50 {raw_p50:.2f} ms, p99 {raw_p99:.2f} ms)",
            flush=True,
        )
        figures.append(
            Figure(
                f"portal page {name} p99",
                p99,
                "ms",
                "its SQL alone, p99",
                raw_p99,
                target="p99 < 200 ms",
            )
        )
        figures.append(Figure(f"portal page {name} p50", p50, "ms", "its SQL alone, p50", raw_p50))
    return figures
