"""An endpoint's last 24 hours: success rate and latency percentiles of its attempts, in
all and hour by hour (the portal's health chart, `GET /v1/webhooks/{id}/stats`).

Read from `webhook_attempts` by the `(subscription_id, attempted_at)` index, which carries
the outcome and latency, so only the window's index entries are read. Percentiles are
nearest-rank (`percentile_disc`): each is a latency some attempt had. An attempt counts
as a success when it delivered (a 2xx); timeouts and connection errors count as failures
with the time they took.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

WINDOW = timedelta(hours=24)

STATS = """
SELECT date_trunc('hour', attempted_at, 'UTC') AS hour, count(*) AS attempts,
    count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
    percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
    percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
    GROUPING(date_trunc('hour', attempted_at, 'UTC')) = 1 AS total
FROM webhook_attempts
WHERE subscription_id = %(subscription_id)s
    AND attempted_at > %(start)s AND attempted_at <= %(end)s
    AND EXISTS (
        SELECT 1 FROM webhook_subscriptions
        WHERE id = %(subscription_id)s AND tenant_id = %(tenant_id)s
    )
GROUP BY ROLLUP (date_trunc('hour', attempted_at, 'UTC'))
ORDER BY total, hour
"""


def figures(attempts: int, delivered: int, p50: float | None, p99: float | None) -> dict[str, Any]:
    return {
        "attempts": attempts,
        "delivered": delivered,
        "success_rate": round(delivered / attempts, 4) if attempts else None,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
    }


def endpoint_stats(
    pool: ConnectionPool, *, tenant_id: UUID, subscription_id: UUID, now: datetime
) -> dict[str, Any]:
    """The endpoint's attempts in (now - 24 h, now]: totals, and each hour that had any
    (`hourly`, oldest first, each by its start in UTC). Another tenant's webhook has none
    (the API answers 404 for it before asking)."""
    start = now - WINDOW
    params = {
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "start": start,
        "end": now,
    }
    with pool.connection() as conn:
        rows = conn.execute(STATS, params).fetchall()
    hourly = [
        {"hour": hour, **figures(n, ok, p50, p99)}
        for hour, n, ok, p50, p99, total in rows
        if not total
    ]
    totals = next((figures(n, ok, p50, p99) for _, n, ok, p50, p99, total in rows if total), None)
    return {
        "window_start": start,
        "window_end": now,
        **(totals or figures(0, 0, None, None)),
        "hourly": hourly,
    }
