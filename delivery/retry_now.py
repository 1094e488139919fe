"""Retry one delivery now (the portal's "retry now", `POST …/deliveries/{id}/retry`).

Like Svix's "resend", any delivery of an active webhook can be sent again, whatever its
state, except while its record's queue is in flight:
- **pending** (waiting out a retry delay, or behind an earlier delivery of its record):
  its record's queue becomes due now. The order per record holds: an earlier delivery of
  the same record still goes first. The attempt counts as the next one of its schedule.
- **failed, cancelled or delivered**: it is queued again, keeping its id, its `webhook-id`
  and its body, as one more attempt: if that fails, the delivery is failed again, with no
  further automatic retries (its schedule is not restarted). It takes its place in its
  record's queue by log order, so it goes before the record's later deliveries still
  pending; once it is settled, the queue moves on at once (a later delivery that was
  waiting out a retry delay is tried then: the queue's time is its head's).
- **in flight** (a worker holds its record's queue: a delivery of that record is being
  sent): refused, `RetryRefusedError`; the request can be made again in a moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from delivery.attempts import read_delivery
from delivery.outbox import DELIVERY_CHANNEL

# Attempts counted for a delivery queued again by hand: more than any schedule has, so a
# failed attempt gives it up at once (RetrySchedule.next_delay answers None).
ONE_MORE_ATTEMPT = 1_000_000

FIND = """
SELECT d.id, d.entity_id FROM webhook_deliveries d
WHERE d.public_id = %(public_id)s AND d.subscription_id = %(subscription_id)s
    AND d.tenant_id = %(tenant_id)s
"""
# Queue rows are locked before pending rows, as the subscriber and the workers do.
LOCK_QUEUE = """
SELECT leased_until FROM webhook_queues
WHERE subscription_id = %(subscription_id)s AND entity_id = %(entity_id)s FOR UPDATE
"""
HURRY_PENDING = """
UPDATE webhook_pending SET next_attempt_at = %(now)s
WHERE subscription_id = %(subscription_id)s AND entity_id = %(entity_id)s
    AND delivery_id = %(delivery_id)s
RETURNING 1
"""
REQUEUE = """
WITH pending AS (
    INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id, attempts,
        next_attempt_at)
    VALUES (%(subscription_id)s, %(entity_id)s, %(delivery_id)s, %(attempts)s, %(now)s)
), uncancelled AS (
    DELETE FROM webhook_cancellations WHERE delivery_id = %(delivery_id)s
)
SELECT 1
"""
QUEUE_DUE = """
INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)
VALUES (%(subscription_id)s, %(entity_id)s, %(now)s)
ON CONFLICT (subscription_id, entity_id) DO UPDATE
    SET next_attempt_at = least(webhook_queues.next_attempt_at, excluded.next_attempt_at)
"""


class RetryRefusedError(Exception):
    """The delivery cannot be retried now (a 409): its record's queue is in flight."""


def retry_now(
    pool: ConnectionPool,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    public_id: UUID,
    now: datetime,
) -> dict[str, Any] | None:
    """Make the delivery due at `now` (see the module's rules) and wake the workers; answer
    the delivery as it is at the commit (pending), or None if the webhook has no such
    delivery.

    The caller checks that the webhook is active: a disabled one sends nothing."""
    params: dict[str, Any] = {
        "public_id": public_id,
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "now": now,
        "attempts": ONE_MORE_ATTEMPT,
    }
    with pool.connection() as conn, conn.transaction():
        found = conn.execute(FIND, params).fetchone()
        if found is None:
            return None
        params["delivery_id"], params["entity_id"] = found
        queue = conn.execute(LOCK_QUEUE, params).fetchone()
        if queue is not None and queue[0] is not None and queue[0] > now:
            raise RetryRefusedError(
                "a delivery of this record is being sent right now; retry in a few seconds"
            )
        if conn.execute(HURRY_PENDING, params).fetchone() is None:
            conn.execute(REQUEUE, params)
        conn.execute(QUEUE_DUE, params)
        conn.execute("SELECT pg_notify(%s, '')", (DELIVERY_CHANNEL,))  # sent at commit
        # Read before the commit: a worker may deliver it as soon as it is committed.
        return read_delivery(
            conn, tenant_id=tenant_id, subscription_id=subscription_id, public_id=public_id
        )
