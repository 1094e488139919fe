"""The operator's view of delivery across tenants (the console): the backlog, and the
endpoints failing longest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

BACKLOG = """
SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= %s), min(next_attempt_at),
    count(*) FILTER (WHERE attempts > 0)
FROM webhook_pending
"""
FAILING = """
SELECT h.subscription_id, s.tenant_id, t.name, s.url, s.status, h.failing_since,
    h.last_failure_at, h.last_success_at,
    (SELECT count(*) FROM webhook_pending p WHERE p.subscription_id = h.subscription_id)
FROM webhook_endpoint_health h
JOIN webhook_subscriptions s ON s.id = h.subscription_id
LEFT JOIN tenants t ON t.id = s.tenant_id
WHERE h.failing_since IS NOT NULL
ORDER BY h.failing_since, h.subscription_id LIMIT %s
"""
FAILING_KEYS = (
    "id",
    "tenant_id",
    "tenant_name",
    "url",
    "status",
    "failing_since",
    "last_failure_at",
    "last_success_at",
    "pending",
)


@dataclass(frozen=True)
class Backlog:
    pending: int
    due: int
    oldest_due: datetime | None
    retrying: int


def backlog(pool: ConnectionPool, now: datetime) -> Backlog:
    """Deliveries waiting: all, due at `now`, the oldest due time, and those retrying."""
    with pool.connection() as conn:
        row: Any = conn.execute(BACKLOG, [now]).fetchone()
    return Backlog(*row)


def failing_endpoints(pool: ConnectionPool, limit: int) -> list[dict[str, Any]]:
    """Endpoints failing now, longest first, with the deliveries waiting for each."""
    with pool.connection() as conn:
        rows = conn.execute(FAILING, [limit]).fetchall()
    return [dict(zip(FAILING_KEYS, row, strict=True)) for row in rows]
