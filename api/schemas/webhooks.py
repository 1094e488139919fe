"""Webhook schemas: subscriptions, their deliveries and attempts, replays, the event catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import UNSET, Meta, UnsetType

from api.schemas.common import HasMore, Input, NextCursor, Output
from delivery.outcome import Outcome
from domain.events import MAX_EVENT_TYPES
from domain.webhook import DEFAULT_GRACE, MAX_GRACE, MAX_URL

Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_URL,
        description="An http(s) URL on the public internet; redirects are not followed.",
        examples=["https://example.com/webhooks/syncline"],
    ),
]
EventTypePattern = Annotated[str, Meta(min_length=1, max_length=64, examples=["order.*"])]
EventTypes = Annotated[
    list[EventTypePattern],
    Meta(
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description="Event types to receive (see GET /v1/event-types); `order.*` matches every"
        " order event. Required: there is no 'everything' default.",
        examples=[["contact.created", "order.*"]],
    ),
]
Description = Annotated[str, Meta(max_length=500, description="Your note, up to 500 characters.")]
WebhookStatus = Literal["active", "disabled"]
Secret = Annotated[
    str,
    Meta(
        description="`whsec_` + base64 of 32 random bytes; the HMAC key is the base64-decoded"
        " part. Shown only in this answer: store it now."
    ),
]


class WebhookCreate(Input):
    url: Url
    event_types: EventTypes
    description: Description | None = None


class WebhookUpdate(Input):
    """Fields to change; omitted ones stay. `status` disables or re-enables the webhook."""

    url: Url | UnsetType = UNSET
    event_types: EventTypes | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    status: WebhookStatus | UnsetType = UNSET


class Webhook(Output):
    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    status: WebhookStatus
    disabled_reason: Annotated[
        Literal["manual", "gone", "failing"] | None,
        Meta(
            description="Why it is disabled: by you, its endpoint answered 410 Gone, or it"
            " failed continuously for 5 days."
        ),
    ]
    version: int
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: Secret


class WebhookList(Output):
    data: list[Webhook]
    next_cursor: NextCursor
    has_more: HasMore


class SecretRotation(Input):
    grace_period_seconds: Annotated[
        int,
        Meta(
            ge=0,
            le=int(MAX_GRACE.total_seconds()),
            description="How long the old secret keeps signing beside the new one (default"
            " 24 h): deliveries carry both signatures meanwhile.",
        ),
    ] = int(DEFAULT_GRACE.total_seconds())


class RotatedSecret(Output):
    id: UUID
    secret: Secret
    previous_secret_expires_at: datetime


class DeliveryAttempt(Output):
    attempted_at: datetime
    outcome: Annotated[
        Outcome,
        Meta(
            description="delivered, http_error, gone, timeout, connection_error, refused"
            " (the SSRF guard) or unsignable."
        ),
    ]
    status_code: int | None
    latency_ms: float
    error: str | None


class Delivery(Output):
    id: UUID
    event_id: Annotated[str, Meta(description="The event's id, also its `webhook-id` header.")]
    event_type: str
    occurred_at: datetime
    status: Annotated[
        Literal["pending", "delivered", "failed", "cancelled"],
        Meta(
            description="failed: given up after the last retry (or 410); cancelled: the"
            " webhook was disabled or deleted first."
        ),
    ]
    replay: Annotated[bool, Meta(description="Enqueued by POST /replay, not by the event.")]
    attempt_count: int
    next_attempt_at: Annotated[
        datetime | None,
        Meta(
            description="pending: the earliest time of its next attempt (one waiting behind an"
            " earlier delivery of the same record goes after that one, so no sooner than its"
            " retry); null otherwise."
        ),
    ]
    finished_at: datetime | None
    last_error: str | None
    attempts: list[DeliveryAttempt]


class DeliveryList(Output):
    data: list[Delivery]
    next_cursor: NextCursor
    has_more: HasMore


class ReplayRequest(Input):
    """Where to replay from: `after` a cursor or `since` a time (exactly one)."""

    after: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=2048,
                description="A cursor from the changes feed or an event's `cursor`: every"
                " matching event committed after it is delivered again.",
            ),
        ]
        | None
    ) = None
    since: (
        Annotated[
            datetime,
            Meta(
                tz=True,
                description="A time (RFC 3339, with an offset): every matching event that"
                " occurred at or after it is delivered again.",
                examples=["2026-11-29T16:00:00Z"],
            ),
        ]
        | None
    ) = None


class ReplayStarted(Output):
    id: UUID
    enqueued: Annotated[int, Meta(description="How many deliveries were enqueued.")]


class EventType(Output):
    name: str
    description: str
    schema: Annotated[dict[str, Any], Meta(description="JSON Schema of the event's `data`.")]


class EventTypeList(Output):
    data: list[EventType]
    next_cursor: NextCursor
    has_more: HasMore
