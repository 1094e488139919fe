"""What the portal pages read: a tenant's endpoints, deliveries (filtered, keyset pages) and a
delivery's attempts. Every query names the tenant, so a foreign id finds nothing.

Deliveries come from the API's own delivery SQL (api/controllers/webhooks.py) and its
representation, so a page and `GET /v1/webhooks/{id}/deliveries` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from api.controllers.webhooks import ATTEMPTS, DELIVERIES, delivery_representation
from api.services import ApiServices
from delivery.history import WITH_STATE

PAGE_SIZE = 50
STATES = ("pending", "delivered", "failed", "cancelled")
ENDPOINTS = """
SELECT id, data FROM webhook_subscriptions WHERE tenant_id = %s
ORDER BY created_at, id LIMIT %s
"""
ONE_DELIVERY = f"""
SELECT d.id, d.public_id, d.event_id, d.event_type, d.created_at, s.state, d.origin,
    p.next_attempt_at, c.cancelled_at, c.reason, d.body, d.correlation_id
FROM {WITH_STATE}
WHERE d.id = %s AND d.subscription_id = %s AND d.tenant_id = %s
"""


def endpoints(services: ApiServices, tenant_id: UUID, limit: int = 500) -> list[dict[str, Any]]:
    """The tenant's webhooks as the API lists them, oldest first."""
    with services.pool.connection() as conn:
        rows = conn.execute(ENDPOINTS, [tenant_id, limit]).fetchall()
    return [{**dict(data), "id": str(id_)} for id_, data in rows]


@dataclass(frozen=True)
class DeliveryFilter:
    state: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # keyset: deliveries with a smaller internal id

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
    selected: DeliveryFilter,
    limit: int = PAGE_SIZE,
) -> DeliveryPage:
    """A page of the webhook's deliveries, newest first: keyset on the delivery id (the
    `webhook_deliveries_list` index), never a count over the whole table."""
    where = ""
    params: list[Any] = [webhook_id, tenant_id]
    for clause, value in (
        (" AND d.id < %s", selected.before),
        (" AND s.state = %s", selected.state),
        (" AND d.event_type = %s", selected.event_type),
        (" AND d.created_at >= %s", selected.since),
        (" AND d.created_at < %s", selected.until),
    ):
        if value is not None:
            where += clause
            params.append(value)
    with services.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = conn.execute(
            DELIVERIES.format(where=where),  # type: ignore[arg-type]
            [*params, limit + 1],
        ).fetchall()
        rows, has_more = rows[:limit], len(rows) > limit
        attempts = _attempts(conn, [r[0] for r in rows])
    found = [{**delivery_representation(row, attempts[row[0]]), "number": row[0]} for row in rows]
    return DeliveryPage(found, rows[-1][0] if has_more else None)


def delivery(
    services: ApiServices, tenant_id: UUID, webhook_id: UUID, number: int
) -> dict[str, Any] | None:
    """One delivery of the tenant's webhook (by its internal number), with its attempts and
    the body as sent; None when it is not this tenant's webhook's."""
    with services.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute(ONE_DELIVERY, [number, webhook_id, tenant_id]).fetchone()
        if row is None:
            return None
        attempts = _attempts(conn, [number])[number]
    body, correlation_id = row[10:]
    return {
        **delivery_representation(row[:10], attempts),
        "number": number,
        "body": bytes(body).decode("utf-8", "replace"),
        "correlation_id": correlation_id,
    }


def _attempts(conn: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for delivery_id, *attempt in conn.execute(ATTEMPTS, (ids,)):
        found[delivery_id].append(
            dict(
                zip(
                    ("attempted_at", "outcome", "status_code", "latency_ms", "error"),
                    attempt,
                    strict=True,
                )
            )
        )
    return found
