"""The delivery outbox: the named queries that enqueue, claim and settle deliveries.

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
else cancelled if cancelled, else failed (given up after its last retry, or 410). The tables
are made by the schema migrations (syncline/migrations/).
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


# Deliveries already present (a rebuild of the subscriber) are left alone and get no pending
# or queue row. Queue rows are locked in key order, like the workers' settle step, so the
# two never deadlock; `DO UPDATE` (not `DO NOTHING`) takes the row lock, which makes a worker
# that is emptying the same queue wait and then see this delivery.
ENQUEUE = """
WITH new AS (
    INSERT INTO webhook_deliveries (public_id, subscription_id, tenant_id, entity_id, position,
        enqueued_position, origin, event_id, event_type, correlation_id, body, created_at)
    SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[],
        %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
        %s::bytea[], %s::timestamptz[])
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


def enqueue(cur: psycopg.Cursor[Any], deliveries: Sequence[NewDelivery]) -> int:
    """Add deliveries (idempotently) and wake the workers; answer how many were new."""
    if not deliveries:
        return 0
    columns: list[list[Any]] = [[] for _ in range(12)]
    for d in deliveries:
        values = (
            d.public_id,
            d.subscription_id,
            d.tenant_id,
            d.entity_id,
            d.position,
            d.enqueued_position,
            d.origin,
            d.event_id,
            d.event_type,
            d.correlation_id,
            d.body,
            d.created_at,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    row = cur.execute(ENQUEUE, columns).fetchone()
    added = int(row[0]) if row else 0
    if added:
        cur.execute("SELECT pg_notify(%s, '')", (DELIVERY_CHANNEL,))
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


# -- reading a delivery's derived state --------------------------------------------------------

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


# -- the workers' queries ---------------------------------------------------------------------

# Due queues, leased until `lease_until`, with their head delivery and its endpoint. Queues
# in flight are due too (their lease hides them), so the scan passes over them: a few
# windows of rows per worker, cheaper than moving every leased row in the index.
CLAIM = """
WITH due AS (
    SELECT subscription_id, entity_id FROM webhook_queues
    WHERE next_attempt_at <= %(now)s AND (leased_until IS NULL OR leased_until <= %(now)s)
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE webhook_queues q SET leased_until = %(lease_until)s
    FROM due WHERE q.subscription_id = due.subscription_id AND q.entity_id = due.entity_id
    RETURNING q.subscription_id, q.entity_id
)
SELECT l.subscription_id, l.entity_id, d.id, d.tenant_id, d.event_id, d.event_type,
    d.correlation_id, d.body, p.attempts, d.created_at,
    s.url, s.secret, s.previous_secret, s.previous_secret_expires_at
FROM leased l
LEFT JOIN LATERAL (
    SELECT p.delivery_id, p.attempts FROM webhook_pending p
    WHERE p.subscription_id = l.subscription_id AND p.entity_id = l.entity_id
    ORDER BY p.delivery_id LIMIT 1
) p ON true
LEFT JOIN webhook_deliveries d ON d.id = p.delivery_id
LEFT JOIN webhook_subscriptions s ON s.id = l.subscription_id
"""

# Settling takes JSON arrays (msgspec encodes them far faster than psycopg adapts arrays):
# `results` has one object per claimed queue, with its head's attempt when there was one,
# read as rows of the type `webhook_settle_result` (see the baseline migration).
RESULTS = "json_populate_recordset(NULL::webhook_settle_result, %(results)s::json) AS r"

# Settling is one call of `syncline_webhook_settle()` (made by the baseline migration), which
# runs these four statements in order, reading the results as `unnest(v_results) AS r`
# (tests/integration/test_delivery_settle_plan.py checks that the two agree). A single
# statement in autocommit, so a batch costs one round trip, sends its results once, and
# needs no BEGIN, COMMIT or pipeline on the client.
#
# The planner takes a batch (`json_to_recordset`) for 100 rows, so with a large backlog it
# would hash-join a scan of every queue row, twice per batch: draining n deliveries would
# cost O(n²) in the database. A batch is at most a few windows of rows, so index lookups are
# always right: the function turns hash and merge joins off for itself (`SETTLE_PLAN` is the
# same for running the statements alone, as the plan test does).
SETTLE_PLAN = """
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
"""

# 1. Queue rows first, in key order: the subscriber locks them the same way.
LOCK_QUEUES = f"""
SELECT 1 FROM webhook_queues q JOIN {RESULTS}
    ON q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
ORDER BY q.subscription_id, q.entity_id
FOR UPDATE OF q
"""

# 2. Record the attempts; a delivery delivered or given up leaves the pending rows (one
# cancelled meanwhile has already left: a success still shows as delivered, a failure
# changes nothing), one to be retried counts the attempt; add to the endpoint health and
# the metrics. Independent tables, so one statement.
SETTLE = f"""
WITH r AS (SELECT * FROM {RESULTS}),
attempts AS (
    INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,
        status_code, latency_ms, error)
    SELECT delivery_id, subscription_id, attempted_at, outcome, status_code, latency_ms, error
    FROM r WHERE delivery_id IS NOT NULL
),
finished AS (
    DELETE FROM webhook_pending p USING r
    WHERE r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
retried AS (
    UPDATE webhook_pending p SET attempts = p.attempts + 1, next_attempt_at = r.retry_at
    FROM r WHERE NOT r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
health AS (
    INSERT INTO webhook_endpoint_health AS h (subscription_id, failing_since, last_success_at,
        last_failure_at)
    SELECT * FROM json_to_recordset(%(health)s::json) AS e(subscription_id uuid,
        failing_since timestamptz, last_success_at timestamptz, last_failure_at timestamptz)
    ORDER BY subscription_id
    ON CONFLICT (subscription_id) DO UPDATE SET
        failing_since = CASE
            WHEN excluded.last_success_at IS NOT NULL THEN excluded.failing_since
            ELSE coalesce(h.failing_since, excluded.failing_since) END,
        last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
        last_failure_at = coalesce(excluded.last_failure_at, h.last_failure_at)
)
INSERT INTO webhook_metrics AS m (name, label, value)
SELECT * FROM json_to_recordset(%(metrics)s::json) AS i(name text, label text, value float8)
ORDER BY name, label
ON CONFLICT (name, label) DO UPDATE SET value = m.value + excluded.value
"""

# 3. A fresh statement (a volatile function takes a snapshot per statement), so it sees
# deliveries the subscriber committed while we waited for the locks: a queue whose head left
# is dropped if nothing else is pending in it.
DROP_EMPTY_QUEUES = f"""
DELETE FROM webhook_queues q USING {RESULTS}
WHERE r.moved_on AND q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
AND NOT EXISTS (
    SELECT 1 FROM webhook_pending p
    WHERE p.subscription_id = q.subscription_id AND p.entity_id = q.entity_id
)
"""

# 4. Every other queue is released, due at once (it was due when claimed) or at the retry's
# time. (A separate statement, not a CTE beside the delete: this one's snapshot no longer
# has the dropped rows, where excluding them in one statement was a nested anti-join.)
RELEASE_QUEUES = f"""
UPDATE webhook_queues q SET leased_until = NULL,
    next_attempt_at = coalesce(r.retry_at, q.next_attempt_at)
FROM {RESULTS} WHERE q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
"""

SETTLE_CALL = "SELECT syncline_webhook_settle(%(results)s, %(health)s, %(metrics)s)"
