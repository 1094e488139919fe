"""DeliveryHistory: reads a subscription's deliveries and their attempts, and a delivery's
derived state, as SQL the readers of delivery history join with.

A delivery is pending while it has a pending row, else delivered if an attempt delivered
it, else cancelled if cancelled, else failed (given up after its last retry, or 410).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.paging import Keyset, Page, keyset_page

# The state of delivery `d` (joined with its pending row `p` and cancellation `c`).
DELIVERY_STATE = """CASE
    WHEN p.delivery_id IS NOT NULL THEN 'pending'
    WHEN EXISTS (
        SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.outcome = 'delivered'
    ) THEN 'delivered'
    WHEN c.delivery_id IS NOT NULL THEN 'cancelled'
    ELSE 'failed' END"""
WITH_STATE = f"""webhook_deliveries d
LEFT JOIN webhook_pending p ON p.subscription_id = d.subscription_id
    AND p.entity_id = d.entity_id AND p.delivery_id = d.id
LEFT JOIN webhook_cancellations c ON c.delivery_id = d.id
CROSS JOIN LATERAL (SELECT {DELIVERY_STATE} AS state) s"""

SELECT_DELIVERIES = f"""SELECT d.id, d.public_id, d.event_id, d.event_type, d.created_at, s.state,
    d.origin, p.next_attempt_at, c.cancelled_at, c.reason
FROM {WITH_STATE}"""
SELECT_ATTEMPTS = """
SELECT delivery_id, attempted_at, outcome, status_code, latency_ms, error
FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY delivery_id, id
"""
ATTEMPT_FIELDS = ("attempted_at", "outcome", "status_code", "latency_ms", "error")
NEWEST_FIRST = Keyset(("d.id",), descending=True)


def delivery_representation(row: Sequence[Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """A `Delivery`: its derived state, and what its attempts (or its cancellation) say."""
    _, public_id, event_id, event_type, occurred_at, state, origin, next_attempt_at = row[:8]
    cancelled_at, reason = row[8:]
    last = attempts[-1] if attempts else None
    finished_at = None
    if state == "delivered":
        finished_at = next(
            (a["attempted_at"] for a in attempts if a["outcome"] == "delivered"), None
        )
    elif state == "failed" and last is not None:
        finished_at = last["attempted_at"]
    elif state == "cancelled":
        finished_at = cancelled_at
    return {
        "id": public_id,
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "status": state,
        "replay": origin != "log",
        "attempt_count": len(attempts),
        "next_attempt_at": next_attempt_at if state == "pending" else None,
        "finished_at": finished_at,
        "last_error": reason if state == "cancelled" else (last["error"] if last else None),
        "attempts": attempts,
    }


class DeliveryHistory:
    """A subscription's deliveries, newest first, each with every attempt made."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(
        self,
        tenant_id: UUID,
        subscription_id: UUID,
        *,
        before: int | None = None,
        status: str | None = None,
        limit: int,
    ) -> Page[dict[str, Any]]:
        """Up to `limit` deliveries older than delivery `before` (in `status` only, if given),
        as `Delivery` representations; a page's key is `[delivery id]`."""
        where = ["d.subscription_id = %s", "d.tenant_id = %s"]
        params: list[Any] = [subscription_id, tenant_id]
        if status is not None:
            where.append("s.state = %s")
            params.append(status)
        with self.pool.connection() as conn, conn.transaction():
            # One snapshot for both reads: retention may purge a delivery and its attempts
            # between two statements, leaving a "delivered" row without its attempts.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            page = keyset_page(
                conn,
                SELECT_DELIVERIES,
                NEWEST_FIRST,
                where=where,
                params=params,
                after=None if before is None else [before],
                limit=limit,
                key=lambda row: [row[0]],
            )
            attempts: dict[int, list[dict[str, Any]]] = {row[0]: [] for row in page.items}
            ids = [row[0] for row in page.items]
            for delivery_id, *attempt in conn.execute(SELECT_ATTEMPTS, (ids,)):
                attempts[delivery_id].append(dict(zip(ATTEMPT_FIELDS, attempt, strict=True)))
        return page.map(lambda row: delivery_representation(row, attempts[row[0]]))
