"""`GET /v1/webhooks/{id}/health`: a webhook endpoint's circuit breaker and recent outcomes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get

from api.auth import Principal, scoped
from api.records import correlation_id
from api.schemas.webhook_health import WebhookHealth
from api.services import ApiServices

MANAGE = "webhooks:manage"

HEALTH = """
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


class WebhookHealthController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]

    @get(
        "/{webhook_id:uuid}/health",
        operation_id="GetWebhookHealth",
        summary="Get a webhook endpoint's delivery health",
        response_description="Its circuit breaker's state, backlog and last outcomes.",
        sync_to_thread=True,
        **scoped(MANAGE, 404),
    )
    def health(
        self, webhook_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> WebhookHealth:
        """How delivery to this endpoint is going: its circuit breaker (an endpoint that keeps
        failing is held for a while, without counting attempts, then probed with one
        delivery), how many deliveries wait, and its last success and failure."""
        services.app.get_webhook(request.user.context(correlation_id(request)), webhook_id)
        with services.pool.connection() as conn:
            row = conn.execute(HEALTH, {"id": webhook_id}).fetchone()
        assert row is not None  # one row always (LEFT JOINs on a constant)
        return msgspec.convert(
            {"webhook_id": webhook_id, **dict(zip(FIELDS, row, strict=True))}, WebhookHealth
        )
