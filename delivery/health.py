"""Endpoint health: each endpoint's successes and failures in a batch of attempts, as the
rows a settlement adds to `webhook_endpoint_health` (read by the 5-day disable job) and the
rows that step its circuit breaker (`webhook_endpoint_state`); and one endpoint's health as
the API shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from delivery.outcome import DELIVERED, GONE
from delivery.queue import EndpointFailures, EndpointHealth
from delivery.sender import Attempt


def endpoint_health(attempts: Sequence[Attempt]) -> list[EndpointHealth]:
    """Per endpoint: since when it has been failing (None after a success), last outcomes."""
    health: dict[UUID, EndpointHealth] = {}
    for a in sorted(attempts, key=lambda a: a.attempted_at):
        subscription_id = a.claim.subscription_id
        row = health.setdefault(subscription_id, EndpointHealth(subscription_id))
        if a.outcome == DELIVERED:
            row.failing_since = None
            row.last_success_at = a.attempted_at
        else:
            row.failing_since = row.failing_since or a.attempted_at
            row.last_failure_at = a.attempted_at
    return list(health.values())


def endpoint_failures(attempts: Sequence[Attempt]) -> list[EndpointFailures]:
    """Per endpoint, for its circuit breaker: failed attempts after its last success in the
    batch, whether one succeeded, and whether one was answered 410. A 410 is not counted as
    a failure: it opens the circuit at once, until the webhook's disable (which the 410
    causes) has cancelled its queued deliveries."""
    rows: dict[UUID, EndpointFailures] = {}
    for a in sorted(attempts, key=lambda a: a.finished_at):
        subscription_id = a.claim.subscription_id
        row = rows.setdefault(subscription_id, EndpointFailures(subscription_id, 0, False))
        if a.outcome == DELIVERED:
            row.failures, row.recovered = 0, True
        elif a.outcome == GONE:
            row.gone = True
        else:
            row.failures += 1
    return sorted(rows.values(), key=lambda r: r.subscription_id)


ENDPOINT_HEALTH = """
SELECT coalesce(s.circuit, 'closed'), s.held_until, s.opened_at, coalesce(s.opened, 0),
    coalesce(s.failures, 0),
    (SELECT count(*) FROM webhook_pending p WHERE p.subscription_id = %(id)s),
    h.failing_since, h.last_success_at, h.last_failure_at
FROM (SELECT 1) one
LEFT JOIN webhook_endpoint_state s ON s.subscription_id = %(id)s
LEFT JOIN webhook_endpoint_health h ON h.subscription_id = %(id)s
"""
FIELDS = (
    "circuit",
    "held_until",
    "opened_at",
    "opened_times",
    "consecutive_failures",
    "pending",
    "failing_since",
    "last_success_at",
    "last_failure_at",
)


def endpoint_health_of(pool: ConnectionPool, subscription_id: UUID) -> dict[str, Any]:
    """One endpoint's circuit breaker, backlog and last outcomes, by FIELDS."""
    with pool.connection() as conn:
        row = conn.execute(ENDPOINT_HEALTH, {"id": subscription_id}).fetchone()
    assert row is not None  # one row always (LEFT JOINs on a constant)
    return dict(zip(FIELDS, row, strict=True))
