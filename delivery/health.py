"""Endpoint health: each endpoint's successes and failures in a batch of attempts, as the
rows a settlement adds to `webhook_endpoint_health` (read by the 5-day disable job) and the
rows that step its circuit breaker (`webhook_endpoint_state`)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

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
    batch, and whether one succeeded. A 410 is neither (it disables the webhook)."""
    rows: dict[UUID, EndpointFailures] = {}
    for a in sorted(attempts, key=lambda a: a.finished_at):
        subscription_id = a.claim.subscription_id
        row = rows.setdefault(subscription_id, EndpointFailures(subscription_id, 0, False))
        if a.outcome == DELIVERED:
            row.failures, row.recovered = 0, True
        elif a.outcome != GONE:
            row.failures += 1
    return sorted(rows.values(), key=lambda r: r.subscription_id)
