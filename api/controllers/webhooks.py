"""WebhookController: `/v1/webhooks`, their deliveries, replays and test pings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from api.auth import Principal, scoped
from api.errors import ProblemError
from api.openapi_docs import header
from api.parameters import change_position, invalid, list_position, page_cursor
from api.records import changes_of, correlation_id
from api.responses import json_response, page_response
from api.schemas.common import CursorParam, Limit
from api.schemas.webhooks import (
    DeliveryList,
    ReplayRequest,
    ReplayStarted,
    RotatedSecret,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
    WebhookWithSecret,
)
from api.services import ApiServices
from delivery import ssrf
from delivery.listing import DeliveryFilter, list_deliveries
from delivery.replay import EventLogBehindError, replay
from domain.envelope import envelope
from domain.errors import InvalidFieldError
from domain.webhook import check_url
from projections.changes.cursor import encode_change_cursor
from projections.webhooks.view import CURSOR_KIND, WebhooksView

MANAGE = "webhooks:manage"


def guard_url(services: ApiServices, url: str) -> None:
    """Refuse a URL that is malformed or, unless allowed, reaches a non-public address."""
    check_url(url)
    if services.allow_private_webhooks:
        return
    try:
        ssrf.check_url(url)
    except (ssrf.ForbiddenTargetError, ssrf.UnresolvableHostError) as exc:
        raise InvalidFieldError("url", str(exc)) from None


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["Webhooks"]

    @post(
        "/",
        operation_id="CreateWebhook",
        summary="Create a webhook",
        response_description="The webhook, with its signing `secret` (shown only here).",
        response_headers=[
            header("Location", location="/v1/webhooks/0d6f4b2a-9e8c-4a1b-b3d5-7f6e5d4c3b2a")
        ],
        sync_to_thread=True,
        **scoped(MANAGE, 413, 422),
    )
    def create(
        self, data: WebhookCreate, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[WebhookWithSecret]:
        """Subscribe a URL to event types.

        Every matching event committed from now on is POSTed to the URL, signed with the
        `secret` of this answer (the only time it is shown): verify `webhook-signature`
        (Standard Webhooks) or `X-Signature-256` before trusting a delivery."""
        guard_url(services, data.url)
        ctx = request.user.context(correlation_id(request))
        subscription, secret = services.app.create_webhook(
            ctx,
            url=data.url,
            event_types=list(data.event_types),
            description=data.description,
            seal=services.secret_box.seal,
        )
        return json_response(
            {**subscription.representation(), "secret": secret},
            201,
            Location=f"/v1/webhooks/{subscription.id}",
        )

    @get(
        "/",
        operation_id="ListWebhooks",
        summary="List webhooks",
        response_description="A page of webhooks, oldest first (without secrets).",
        sync_to_thread=True,
        **scoped(MANAGE),
    )
    def list(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
    ) -> Response[WebhookList]:
        """List your webhooks, oldest first (secrets are never listed)."""
        tenant_id = request.user.tenant_id
        after = None
        if cursor is not None:
            after = list_position(services, CURSOR_KIND, tenant_id, cursor, 2)
        page = WebhooksView(services.pool).page(tenant_id, after=after, limit=limit)
        next_cursor = page_cursor(services, CURSOR_KIND, tenant_id, page)
        return page_response(page.items, next_cursor, page.has_more)

    @get(
        "/{webhook_id:uuid}",
        operation_id="GetWebhook",
        summary="Get a webhook",
        response_description="The webhook (without its secret).",
        sync_to_thread=True,
        **scoped(MANAGE, 404),
    )
    def retrieve(
        self, webhook_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[Webhook]:
        """Get one webhook (without its secret)."""
        ctx = request.user.context(correlation_id(request))
        return json_response(services.app.get_webhook(ctx, webhook_id).representation())

    @patch(
        "/{webhook_id:uuid}",
        operation_id="UpdateWebhook",
        summary="Update, disable or enable a webhook",
        response_description="The webhook after the change.",
        sync_to_thread=True,
        **scoped(MANAGE, 404, 409, 413, 422),
    )
    def update(
        self,
        webhook_id: UUID,
        data: WebhookUpdate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> Response[Webhook]:
        """Change the URL, event types or description; `status` disables or re-enables it.

        Re-enabling resumes delivery from that moment: events committed while it was
        disabled are not sent (use `/replay` for them)."""
        changes = changes_of(data)
        status = changes.pop("status", None)
        if "url" in changes:
            guard_url(services, changes["url"])
        ctx = request.user.context(correlation_id(request))
        subscription = services.app.update_webhook(ctx, webhook_id, changes, status)
        return json_response(subscription.representation())

    @delete(
        "/{webhook_id:uuid}",
        operation_id="DeleteWebhook",
        summary="Delete a webhook",
        response_description="Deleted: nothing more is delivered to it.",
        sync_to_thread=True,
        status_code=204,
        **scoped(MANAGE, 404, 409),
    )
    def remove(
        self, webhook_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> None:
        """Delete a webhook; deliveries not yet made are cancelled."""
        ctx = request.user.context(correlation_id(request))
        services.app.change_webhook(ctx, webhook_id, lambda s: s.delete(ctx))

    @post(
        "/{webhook_id:uuid}/rotate-secret",
        operation_id="RotateWebhookSecret",
        summary="Rotate a webhook's signing secret",
        response_description="The new secret (shown only here) and when the old one stops signing.",
        sync_to_thread=True,
        status_code=200,
        **scoped(MANAGE, 404, 409, 422),
    )
    def rotate_secret(
        self,
        webhook_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        data: SecretRotation | None = None,
    ) -> Response[RotatedSecret]:
        """Issue a new secret (shown only in this answer).

        Until `previous_secret_expires_at`, deliveries carry two `webhook-signature` entries,
        one per secret, so you can switch your receiver over without losing any. One earlier
        secret signs at a time: while that grace lasts, another rotation with a grace period
        is a 409; one with `grace_period_seconds` 0 (a leaked secret) is always accepted and
        ends every earlier secret."""
        grace = timedelta(seconds=(data or SecretRotation()).grace_period_seconds)
        ctx = request.user.context(correlation_id(request))
        subscription, secret = services.app.rotate_webhook_secret(
            ctx, webhook_id, seal=services.secret_box.seal, grace=grace
        )
        return json_response(
            {
                "id": str(subscription.id),
                "secret": secret,
                "previous_secret_expires_at": subscription.previous_secret_expires_at,
            }
        )

    @get(
        "/{webhook_id:uuid}/deliveries",
        operation_id="ListWebhookDeliveries",
        summary="List a webhook's deliveries",
        response_description="A page of deliveries, newest first, each with its attempts.",
        sync_to_thread=True,
        **scoped(MANAGE, 404),
    )
    def deliveries(
        self,
        webhook_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
        status: Annotated[
            Literal["pending", "delivered", "failed", "cancelled"] | None,
            Parameter(description="Only deliveries in this state."),
        ] = None,
        event_type: Annotated[
            str | None,
            Parameter(
                min_length=1, max_length=64, description="Only deliveries of this event type."
            ),
        ] = None,
        occurred_after: Annotated[
            datetime | None,
            Parameter(description="Only events that occurred at or after this time (ISO 8601)."),
        ] = None,
        occurred_before: Annotated[
            datetime | None,
            Parameter(description="Only events that occurred before this time (ISO 8601)."),
        ] = None,
    ) -> DeliveryList:
        """Deliveries to this webhook, newest first, each with every attempt made
        (time, outcome, HTTP status, latency, error); filters combine. Pages are keyset
        pages without a total count, as fast on the millionth delivery as on the first.
        `GET …/deliveries/{id}` adds what the endpoint answered."""
        tenant_id = request.user.tenant_id
        services.app.get_webhook(request.user.context(correlation_id(request)), webhook_id)
        # A time without an offset is UTC (as everywhere in the API).
        occurred_after, occurred_before = (
            t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t
            for t in (occurred_after, occurred_before)
        )
        if occurred_after and occurred_before and occurred_after >= occurred_before:
            raise invalid("occurred_before", "must be later than occurred_after")
        before = None
        if cursor is not None:
            owner, before = list_position(services, "deliveries", tenant_id, cursor, 2)
            if owner != str(webhook_id):
                raise invalid(
                    "cursor", "belongs to another webhook's deliveries", slug="invalid-cursor"
                )
        page = list_deliveries(
            services.pool,
            tenant_id=tenant_id,
            subscription_id=webhook_id,
            limit=limit,
            before=before,
            filters=DeliveryFilter(status, event_type, occurred_after, occurred_before),
        )
        next_cursor = (
            services.cursors.encode("deliveries", tenant_id, [str(webhook_id), page.last_id])
            if page.has_more
            else None
        )
        return msgspec.convert(
            {"data": page.data, "next_cursor": next_cursor, "has_more": page.has_more},
            DeliveryList,
        )

    @post(
        "/{webhook_id:uuid}/replay",
        operation_id="ReplayWebhook",
        summary="Replay events to a webhook",
        response_description="Accepted: how many deliveries were enqueued.",
        sync_to_thread=True,
        status_code=202,
        **scoped(MANAGE, 404, 409, 422),
    )
    def replay(
        self,
        webhook_id: UUID,
        data: ReplayRequest,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> ReplayStarted:
        """Send again every matching event committed after a cursor (`after`), or that
        occurred at or after a time (`since`), and after the webhook was created, up to now.
        Replayed deliveries keep their `webhook-id`. Answers 503
        with `Retry-After`, replaying nothing, while the event log the replay reads is more
        than a few seconds behind the log (a worker is down or catching up)."""
        tenant_id = request.user.tenant_id
        subscription = services.app.get_webhook(
            request.user.context(correlation_id(request)), webhook_id
        )
        if subscription.status != "active":
            raise ProblemError(
                409, f"webhook {webhook_id} is disabled; enable it first", slug="conflict"
            )
        if (data.after is None) == (data.since is None):
            raise ProblemError(
                422,
                "give exactly one of after (a cursor) and since (a time)",
                slug="validation-error",
                errors=[
                    {"field": "after", "source": "body", "message": "exactly one of after, since"}
                ],
            )
        after = (
            0 if data.after is None else change_position(services, tenant_id, data.after, "after")
        )
        replay_id = uuid4()
        try:
            enqueued = replay(
                services.app,
                services.pool,
                services.cursors,
                tenant_id=tenant_id,
                subscription_id=webhook_id,
                after=after,
                replay_id=replay_id,
                since=data.since,
            )
        except EventLogBehindError as exc:
            raise ProblemError(
                503, str(exc), slug="event-log-behind", headers={"Retry-After": "5"}
            ) from exc
        return ReplayStarted(id=replay_id, enqueued=enqueued)

    @post(
        "/{webhook_id:uuid}/test",
        operation_id="TestWebhook",
        summary="Send a test event to a webhook",
        response_description="Accepted: the `webhook.ping` event, as it will be delivered.",
        sync_to_thread=True,
        status_code=202,
        **scoped(MANAGE, 404, 409),
    )
    def test(
        self, webhook_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[dict[str, Any]]:
        """Send a `webhook.ping` event to this webhook only; answers the event as it will be
        delivered (follow it in `/deliveries`)."""
        ctx = request.user.context(correlation_id(request))
        _, recordings = services.app.change_webhook(ctx, webhook_id, lambda s: s.ping(ctx))
        recording = recordings[-1]
        cursor = encode_change_cursor(services.cursors, ctx.tenant_id, recording.notification.id)
        return json_response(envelope(recording.domain_event, "webhook.ping", cursor), 202)
