"""What the operator console reads across tenants: tenants by name or id prefix, projection lag and
failure state, the delivery backlog, and the endpoints failing longest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.services import ApiServices
from projections.lag import Lag, measure_lag
from projections.tenants.search import MAX_QUERY, search_tenants

TENANT_PAGE = 100
FAILING_SHOWN = 20
ERRORS = "SELECT name, last_error FROM projection_tracking"
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


def tenants(services: ApiServices, search: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Tenants whose name or id starts with `search` (the search of `GET /admin/tenants?q=`),
    oldest first; whether more than a page matched."""
    query = (search or "").strip()[:MAX_QUERY] or None
    rows, more = search_tenants(services.pool, query, limit=TENANT_PAGE)
    found = [{"id": str(r[0]), "name": r[1], "created_at": r[2], "status": r[3]} for r in rows]
    return found, more


@dataclass(frozen=True)
class ProjectionState:
    lag: Lag
    last_error: str | None


def projections(services: ApiServices) -> list[ProjectionState]:
    lags = measure_lag(services.pool, services.app)
    with services.pool.connection() as conn:
        errors: dict[str, str | None] = dict(conn.execute(ERRORS).fetchall())
    return [ProjectionState(lag, errors.get(lag.projection)) for lag in lags]


@dataclass(frozen=True)
class Backlog:
    pending: int
    due: int
    oldest_due: datetime | None
    retrying: int


def backlog(services: ApiServices) -> Backlog:
    with services.pool.connection() as conn:
        row: Any = conn.execute(BACKLOG, [services.clock.now()]).fetchone()
    return Backlog(*row)


def failing_endpoints(services: ApiServices) -> list[dict[str, Any]]:
    """Endpoints failing now, longest first, with the deliveries waiting for each."""
    with services.pool.connection() as conn:
        rows = conn.execute(FAILING, [FAILING_SHOWN]).fetchall()
    keys = (
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
    return [dict(zip(keys, row, strict=True)) for row in rows]
