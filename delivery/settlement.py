"""What a settlement records for a batch of attempts: each claimed queue's `Result` (moved
on, or to be retried at the schedule's time), the endpoints' health and breaker rows, and
the metrics increments. Pure: the worker sends it through `DeliveryQueue.settle`."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from delivery import metrics
from delivery.health import endpoint_failures, endpoint_health
from delivery.outcome import DELIVERED, moves_on
from delivery.queue import Claim, EndpointFailures, EndpointHealth, MetricIncrement, Result
from delivery.retry import RetrySchedule
from delivery.sender import Attempt


@dataclass(frozen=True)
class Settlement:
    results: list[Result]
    health: list[EndpointHealth]
    metrics: list[MetricIncrement]
    breaker: list[EndpointFailures]


def retry_at(
    a: Attempt, schedule: RetrySchedule, rand: Callable[[], float] = random.random
) -> datetime | None:
    """When to try the delivery again; None: it is delivered or given up (after its last
    retry, or a 410), and its queue moves on. The schedule counts from the end of the
    attempt: a timeout is an attempt like any other failure."""
    if moves_on(a.outcome):
        return None
    return schedule.retry_at(
        a.claim.attempts + 1, a.finished_at, retry_after=a.retry_after, rand=rand
    )


def settlement(
    attempts: Sequence[Attempt],
    empty: Sequence[Claim],
    *,
    now: datetime,
    schedule: RetrySchedule,
    rand: Callable[[], float] = random.random,
) -> Settlement:
    """The rows settling `attempts` records; `empty` queues (their deliveries were
    cancelled) are dropped."""
    results = [Result(c.subscription_id, c.entity_id, moved_on=True) for c in empty]
    for a in attempts:
        retry = retry_at(a, schedule, rand)
        results.append(
            Result(
                subscription_id=a.claim.subscription_id,
                entity_id=a.claim.entity_id,
                moved_on=retry is None,
                delivery_id=a.claim.delivery_id,
                attempted_at=a.attempted_at,
                outcome=a.outcome,
                status_code=a.status_code,
                latency_ms=round(a.latency * 1000, 3),
                error=a.error,
                retry_at=retry,
                request_headers=a.request_headers,
                response_headers=a.answer.headers if a.answer else None,
                response_body=a.answer.body if a.answer else None,
                response_truncated=a.answer.truncated if a.answer else None,
            )
        )
    increments = metrics.increments(
        [a.outcome for a in attempts],
        [a.latency for a in attempts],
        [
            (now - a.claim.created_at).total_seconds()
            for a in attempts
            if a.outcome == DELIVERED and a.claim.created_at is not None
        ],
    )
    return Settlement(
        results,
        endpoint_health(attempts),
        [MetricIncrement(name, label, value) for name, label, value in increments],
        endpoint_failures(attempts),
    )
