"""What the portal pages read: a tenant's endpoints, deliveries (filtered, keyset pages) and
one delivery with its attempts and what the endpoint answered. The deliveries come from the
functions `/v1/webhooks/{id}/deliveries` uses (delivery/listing.py, delivery/attempts.py), so
a page and the API agree; every query names the tenant, so a foreign id finds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from api.services import ApiServices
from delivery.attempts import correlation_of, get_delivery
from delivery.listing import STATES, DeliveryFilter, list_deliveries
from projections.webhooks.view import WebhooksView

PAGE_SIZE = 50

__all__ = ["STATES", "PageFilter", "deliveries", "delivery", "endpoints"]


def endpoints(services: ApiServices, tenant_id: UUID, limit: int = 500) -> list[dict[str, Any]]:
    """The tenant's webhooks as the API lists them, oldest first."""
    page = WebhooksView(services.pool).page(tenant_id, limit=limit)
    return [msgspec.json.decode(item) for item in page.items]


@dataclass(frozen=True)
class PageFilter:
    """The deliveries page's filters and keyset, as its query string holds them."""

    state: Any = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # keyset: deliveries older than this one

    def query(self, before: int | None = None) -> dict[str, str]:
        """The filter as query parameters (for links to the next page)."""
        found = {
            "state": self.state or "",
            "event_type": self.event_type or "",
            "since": self.since.strftime("%Y-%m-%dT%H:%M") if self.since else "",
            "until": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else "",
            "before": str(before) if before is not None else "",
        }
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[dict[str, Any]]
    next_before: int | None


def deliveries(
    services: ApiServices,
    tenant_id: UUID,
    webhook_id: UUID,
    selected: PageFilter,
    limit: int = PAGE_SIZE,
) -> DeliveryPage:
    """A page of the webhook's deliveries, newest first (keyset pages, never a count)."""
    found = list_deliveries(
        services.pool,
        tenant_id=tenant_id,
        subscription_id=webhook_id,
        limit=limit,
        before=selected.before,
        filters=DeliveryFilter(
            status=selected.state,
            event_type=selected.event_type,
            occurred_after=selected.since,
            occurred_before=selected.until,
        ),
    )
    return DeliveryPage(found.data, found.last_id)


def delivery(
    services: ApiServices, tenant_id: UUID, webhook_id: UUID, public_id: UUID
) -> dict[str, Any] | None:
    """One delivery of the tenant's webhook, with its attempts and the endpoint's answers,
    the body as sent and its correlation id; None when it is not this webhook's."""
    found = get_delivery(
        services.pool, tenant_id=tenant_id, subscription_id=webhook_id, public_id=public_id
    )
    if found is None:
        return None
    correlation = correlation_of(
        services.pool, tenant_id=tenant_id, subscription_id=webhook_id, public_id=public_id
    )
    return {**found, "correlation_id": correlation or ""}
