"""DeliveryController: one delivery of a webhook with its endpoint's answers, "retry now",
and the endpoint's 24-hour statistics (`/v1/webhooks/{id}/…`). Thin: the readers and the
retry live in delivery/, where the portal's pages call them too."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post

from api.auth import Principal, scoped
from api.errors import ProblemError
from api.records import correlation_id
from api.schemas.deliveries import DeliveryDetail, WebhookStats
from api.services import ApiServices
from delivery.attempts import get_delivery
from delivery.retry_now import RetryRefusedError, retry_now
from delivery.stats import endpoint_stats

MANAGE = "webhooks:manage"


def no_delivery(webhook_id: UUID, delivery_id: UUID) -> ProblemError:
    return ProblemError(
        404, f"webhook {webhook_id} has no delivery {delivery_id}", slug="not-found"
    )


class DeliveryController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]

    @get(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}",
        operation_id="GetWebhookDelivery",
        summary="Get a delivery and its attempts",
        response_description="The delivery, its body, and every attempt with what the endpoint"
        " answered.",
        sync_to_thread=True,
        **scoped(MANAGE, 404),
    )
    def retrieve(
        self,
        webhook_id: UUID,
        delivery_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> DeliveryDetail:
        """One delivery: the body it sends, and each attempt's time, outcome, latency and
        error with the endpoint's answer (status, headers, the first 4 KiB of the body, as
        a string)."""
        tenant_id = request.user.tenant_id
        services.app.get_webhook(request.user.context(correlation_id(request)), webhook_id)
        found = get_delivery(
            services.pool, tenant_id=tenant_id, subscription_id=webhook_id, public_id=delivery_id
        )
        if found is None:
            raise no_delivery(webhook_id, delivery_id)
        return msgspec.convert(found, DeliveryDetail)

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/retry",
        operation_id="RetryWebhookDelivery",
        summary="Retry a delivery now",
        response_description="Accepted: the delivery, pending, due now.",
        sync_to_thread=True,
        status_code=202,
        **scoped(MANAGE, 404, 409),
    )
    def retry(
        self,
        webhook_id: UUID,
        delivery_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> DeliveryDetail:
        """Send this delivery again now, whatever its state (like a "resend"): a pending one
        stops waiting for its retry delay; a failed, cancelled or delivered one is queued
        again, for one more attempt (if it fails, it is failed again, with no automatic
        retries). It keeps its id, `webhook-id` and body. Deliveries of one record stay in
        log order: an earlier pending delivery of the same record goes first. Answers 409
        while a delivery of the same record is being sent (retry in a moment) or while the
        webhook is disabled."""
        tenant_id = request.user.tenant_id
        subscription = services.app.get_webhook(
            request.user.context(correlation_id(request)), webhook_id
        )
        if subscription.status != "active":
            raise ProblemError(
                409, f"webhook {webhook_id} is disabled; enable it first", slug="conflict"
            )
        try:
            found = retry_now(
                services.pool,
                tenant_id=tenant_id,
                subscription_id=webhook_id,
                public_id=delivery_id,
                now=services.clock.now(),
            )
        except RetryRefusedError as exc:
            raise ProblemError(409, str(exc), slug="conflict") from exc
        if found is None:
            raise no_delivery(webhook_id, delivery_id)
        return msgspec.convert(found, DeliveryDetail)

    @get(
        "/{webhook_id:uuid}/stats",
        operation_id="GetWebhookStats",
        summary="Get a webhook's 24-hour statistics",
        response_description="Success rate and latency percentiles of the last 24 hours, in"
        " all and by hour.",
        sync_to_thread=True,
        **scoped(MANAGE, 404),
    )
    def stats(
        self, webhook_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> WebhookStats:
        """The endpoint's attempts over the last 24 hours (retries included): how many, the
        share delivered (a 2xx), and latency p50 and p99 (nearest rank, in milliseconds),
        in all and for each hour that had attempts. Timeouts count with the time they took."""
        services.app.get_webhook(request.user.context(correlation_id(request)), webhook_id)
        figures = endpoint_stats(
            services.pool,
            tenant_id=request.user.tenant_id,
            subscription_id=webhook_id,
            now=services.clock.now(),
        )
        return msgspec.convert(figures, WebhookStats)
