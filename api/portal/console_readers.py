"""What the operator console reads across tenants: tenants by name or id prefix, projection lag and
failure state, the delivery backlog, and the endpoints failing longest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.services import ApiServices
from delivery.overview import Backlog
from delivery.overview import backlog as delivery_backlog
from delivery.overview import failing_endpoints as failing
from projections.lag import Lag, measure_lag
from projections.tenants.search import MAX_QUERY
from projections.tenants.view import TenantsView
from projections.tracking import last_errors

TENANT_PAGE = 100
FAILING_SHOWN = 20


def tenants(services: ApiServices, search: str | None) -> tuple[list[dict[str, Any]], bool]:
    """Tenants whose name or id starts with `search` (the search of `GET /admin/tenants?q=`),
    oldest first; whether more than a page matched."""
    query = (search or "").strip()[:MAX_QUERY] or None
    page = TenantsView(services.pool).tenants(query=query, limit=TENANT_PAGE)
    found = [
        {"id": str(t.id), "name": t.name, "created_at": t.created_at, "status": t.status}
        for t in page.items
    ]
    return found, page.has_more


@dataclass(frozen=True)
class ProjectionState:
    lag: Lag
    last_error: str | None


def projections(services: ApiServices) -> list[ProjectionState]:
    lags = measure_lag(services.pool, services.app)
    errors = last_errors(services.pool)
    return [ProjectionState(lag, errors.get(lag.projection)) for lag in lags]


def backlog(services: ApiServices) -> Backlog:
    return delivery_backlog(services.pool, services.clock.now())


def failing_endpoints(services: ApiServices) -> list[dict[str, Any]]:
    """Endpoints failing now, longest first, with the deliveries waiting for each."""
    return failing(services.pool, FAILING_SHOWN)
