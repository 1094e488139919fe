"""The delivery outbox: what the subscriber (and a replay) writes: deliveries enqueued, and
pending ones cancelled when their webhook is disabled or deleted.

A delivery is one event for one subscription. Deliveries of one (subscription, entity) form
a queue, sent strictly one after another in enqueue order: `webhook_queues` holds one row
per non-empty queue with the time its head may next be tried, and workers claim queue rows
(`FOR UPDATE SKIP LOCKED`), never deliveries directly. A claim leases the queue until past the
request timeout, so a worker that dies mid-request loses nothing: the queue can be claimed
again when the lease runs out.

A delivery's data and its progress live apart, so settling one touches only narrow rows:
`webhook_deliveries` (the rendered body and what it is for) is written once, at enqueue;
`webhook_pending` holds a narrow row per delivery still to be sent (the queue's members, in
order); `webhook_attempts` is the append-only log of every attempt; `webhook_cancellations`
notes deliveries given up because their webhook was disabled or deleted. A delivery's state
is derived: pending while it has a pending row, else delivered if an attempt delivered it,
else cancelled if cancelled, else failed (given up after its last retry, or 410).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import psycopg

DELIVERY_CHANNEL = "syncline_deliveries"
DELIVERY_NAMESPACE = UUID("1d6f3c7e-8a54-4a0b-9e53-5b9d2f0c7a21")
LOG = "log"  # origin of deliveries the subscriber enqueues from the log


@dataclass(frozen=True)
class NewDelivery:
    """One event, rendered, for one subscription."""

    subscription_id: UUID
    tenant_id: UUID
    entity_id: UUID
    position: int
    enqueued_position: int
    origin: str
    event_id: str
    event_type: str
    correlation_id: str
    body: bytes
    created_at: datetime

    @property
    def public_id(self) -> UUID:
        # Derived, not random: re-enqueueing the same delivery (a rebuild) finds the same row.
        return uuid5(DELIVERY_NAMESPACE, f"{self.subscription_id}/{self.position}/{self.origin}")


# The columns of `webhook_deliveries` an enqueue writes, each the `NewDelivery` attribute of
# the same name, with its SQL type: each travels as one array parameter of that name.
COLUMNS = {
    "public_id": "uuid",
    "subscription_id": "uuid",
    "tenant_id": "uuid",
    "entity_id": "uuid",
    "position": "bigint",
    "enqueued_position": "bigint",
    "origin": "text",
    "event_id": "text",
    "event_type": "text",
    "correlation_id": "text",
    "body": "bytea",
    "created_at": "timestamptz",
}

# Deliveries already present (a rebuild of the subscriber) are left alone and get no pending
# or queue row. Queue rows are locked in key order, like the workers' settle step, so the
# two never deadlock; `DO UPDATE` (not `DO NOTHING`) takes the row lock, which makes a worker
# that is emptying the same queue wait and then see this delivery.
ENQUEUE = f"""
WITH new AS (
    INSERT INTO webhook_deliveries ({", ".join(COLUMNS)})
    SELECT * FROM unnest({", ".join(f"%({name})s::{kind}[]" for name, kind in COLUMNS.items())})
    ON CONFLICT DO NOTHING
    RETURNING id, subscription_id, entity_id, created_at
), pending AS (
    INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id, next_attempt_at)
    SELECT subscription_id, entity_id, id, created_at FROM new
), queued AS (
    INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)
    SELECT subscription_id, entity_id, min(created_at) FROM new
    GROUP BY subscription_id, entity_id ORDER BY subscription_id, entity_id
    ON CONFLICT (subscription_id, entity_id)
        DO UPDATE SET next_attempt_at = webhook_queues.next_attempt_at
    RETURNING 1
)
SELECT count(*) FROM new
"""
NOTIFY_ENQUEUED = "SELECT pg_notify(%(channel)s, '')"


def enqueue(cur: psycopg.Cursor[Any], deliveries: Sequence[NewDelivery]) -> int:
    """Add deliveries (idempotently) and wake the workers; answer how many were new."""
    if not deliveries:
        return 0
    params = {name: [getattr(d, name) for d in deliveries] for name in COLUMNS}
    row = cur.execute(ENQUEUE, params).fetchone()
    added = int(row[0]) if row else 0
    if added:
        cur.execute(NOTIFY_ENQUEUED, {"channel": DELIVERY_CHANNEL})
    return added


# Queue rows are always locked before pending rows, in key order (as the workers do).
LOCK_SUBSCRIPTION_QUEUES = """
SELECT 1 FROM webhook_queues WHERE subscription_id = %(subscription_id)s
ORDER BY subscription_id, entity_id FOR UPDATE
"""
CANCEL_PENDING = """
WITH cancelled AS (
    DELETE FROM webhook_pending p USING webhook_deliveries d
    WHERE p.subscription_id = %(subscription_id)s AND d.id = p.delivery_id
        AND d.enqueued_position < %(position)s
    RETURNING p.delivery_id
)
INSERT INTO webhook_cancellations (delivery_id, cancelled_at, reason)
SELECT delivery_id, %(at)s, %(why)s FROM cancelled
ON CONFLICT DO NOTHING
"""
DROP_SUBSCRIPTION_EMPTY_QUEUES = """
DELETE FROM webhook_queues q WHERE q.subscription_id = %(subscription_id)s
AND NOT EXISTS (
    SELECT 1 FROM webhook_pending p
    WHERE p.subscription_id = q.subscription_id AND p.entity_id = q.entity_id
)
"""


def cancel_pending(
    cur: psycopg.Cursor[Any], subscription_id: UUID, position: int, at: datetime, why: str
) -> None:
    """Give up a subscription's pending deliveries (it was disabled or deleted at `position`).

    Only what was enqueued before that position: a rebuild replaying an old `Disabled` must
    not cancel deliveries enqueued after a later re-enable.
    """
    params = {"subscription_id": subscription_id, "position": position, "at": at, "why": why}
    cur.execute(LOCK_SUBSCRIPTION_QUEUES, params)
    cur.execute(CANCEL_PENDING, params)
    cur.execute(DROP_SUBSCRIPTION_EMPTY_QUEUES, params)
