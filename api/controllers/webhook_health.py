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
from delivery.health import endpoint_health_of

MANAGE = "webhooks:manage"


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
        found = endpoint_health_of(services.pool, webhook_id)
        return msgspec.convert({"webhook_id": webhook_id, **found}, WebhookHealth)
