"""Reading a webhook's deliveries: one delivery with its attempts and what each attempt's
endpoint answered, and the representation every reader of delivery history shares.

Plain functions over a connection pool: the API's controllers and the portal's pages call
the same ones. A delivery is addressed by its public id within its webhook and tenant, so a
foreign id reads as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from delivery.history import WITH_STATE

# The columns of a delivery row, in the order `delivery_representation` reads them. A pending
# delivery goes no sooner than its own time nor than its record's queue (an earlier delivery
# of the record waiting for its retry goes first): the later of the two.
DELIVERY_COLUMNS = """d.id, d.public_id, d.event_id, d.event_type, d.created_at, s.state, d.origin,
    greatest(p.next_attempt_at, (SELECT q.next_attempt_at FROM webhook_queues q
        WHERE q.subscription_id = p.subscription_id AND q.entity_id = p.entity_id)),
    c.cancelled_at, c.reason"""
ONE_DELIVERY = f"""
SELECT {DELIVERY_COLUMNS}, d.body
FROM {WITH_STATE}
WHERE d.public_id = %(public_id)s AND d.subscription_id = %(subscription_id)s
    AND d.tenant_id = %(tenant_id)s
"""
ATTEMPT_FIELDS = ("attempted_at", "outcome", "status_code", "latency_ms", "error")
RESPONSE_FIELDS = ("request_headers", "response_headers", "response_body", "response_truncated")
ATTEMPTS = f"""
SELECT delivery_id, {", ".join(ATTEMPT_FIELDS)}
FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY delivery_id, id
"""
ATTEMPTS_WITH_RESPONSES = f"""
SELECT delivery_id, {", ".join(ATTEMPT_FIELDS + RESPONSE_FIELDS)}
FROM webhook_attempts WHERE delivery_id = ANY(%s) ORDER BY delivery_id, id
"""


def headers_view(headers: list[list[str]] | None) -> dict[str, str] | None:
    """Stored [[name, value], …] as an object, a repeated name's values joined with ", "."""
    if headers is None:
        return None
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def response_view(
    sent: list[list[str]] | None,
    headers: list[list[str]] | None,
    body: str | None,
    truncated: bool | None,
) -> dict[str, Any]:
    """An attempt's request headers as sent and its answer as the API shows them: headers
    as objects, the body's first 4 KiB as a string."""
    return {
        "request_headers": headers_view(sent),
        "response_headers": headers_view(headers),
        "response_body": body,
        "response_body_truncated": bool(truncated),
    }


def attempts_of(
    conn: psycopg.Connection[Any], delivery_ids: Sequence[int], *, responses: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """The attempts of these deliveries, oldest first, by delivery (each delivery present)."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in delivery_ids}
    query = ATTEMPTS_WITH_RESPONSES if responses else ATTEMPTS
    for delivery_id, *row in conn.execute(query, (list(delivery_ids),)):
        attempt = dict(zip(ATTEMPT_FIELDS, row[: len(ATTEMPT_FIELDS)], strict=True))
        if responses:
            attempt.update(response_view(*row[len(ATTEMPT_FIELDS) :]))
        found[delivery_id].append(attempt)
    return found


def delivery_representation(row: Sequence[Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """A `Delivery`: its derived state, and what its attempts (or its cancellation) say."""
    _, public_id, event_id, event_type, occurred_at, state, origin, next_attempt_at = row[:8]
    cancelled_at, reason = row[8:10]
    last = attempts[-1] if attempts else None
    finished_at = None
    if state == "delivered":
        finished_at = next(
            (a["attempted_at"] for a in reversed(attempts) if a["outcome"] == "delivered"), None
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


def read_delivery(
    conn: psycopg.Connection[Any], *, tenant_id: UUID, subscription_id: UUID, public_id: UUID
) -> dict[str, Any] | None:
    """`get_delivery` on a connection the caller holds (in its transaction)."""
    params = {"public_id": public_id, "subscription_id": subscription_id, "tenant_id": tenant_id}
    row = conn.execute(ONE_DELIVERY, params).fetchone()
    if row is None:
        return None
    attempts = attempts_of(conn, [row[0]], responses=True)[row[0]]
    body = bytes(row[10])
    return {**delivery_representation(row, attempts), "request_body": body.decode()}


def get_delivery(
    pool: ConnectionPool, *, tenant_id: UUID, subscription_id: UUID, public_id: UUID
) -> dict[str, Any] | None:
    """One delivery of the tenant's webhook with every attempt and what its endpoint
    answered, and the body it sends (`request_body`); None if there is no such delivery."""
    with pool.connection() as conn, conn.transaction():
        # One snapshot: retention may purge a delivery and its attempts between statements.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return read_delivery(
            conn, tenant_id=tenant_id, subscription_id=subscription_id, public_id=public_id
        )


def correlation_of(
    pool: ConnectionPool, *, tenant_id: UUID, subscription_id: UUID, public_id: UUID
) -> str | None:
    """The correlation id of the write behind one delivery of the tenant's webhook."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT correlation_id FROM webhook_deliveries"
            " WHERE public_id = %s AND subscription_id = %s AND tenant_id = %s",
            [public_id, subscription_id, tenant_id],
        ).fetchone()
    return None if row is None else str(row[0] or "")
