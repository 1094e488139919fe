"""Event log schemas: `EventEnvelope` (the public envelope of DESIGN.md) and `EventPage`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta

from api.schemas.common import HasMore, Output


class EventEntity(Output):
    type: Annotated[str, Meta(examples=["order"])]
    id: UUID
    version: Annotated[int, Meta(description="The record's version after this event.")]


class EventActor(Output):
    type: Annotated[str, Meta(examples=["api_key", "oauth_client", "operator", "system"])]
    id: str


class EventEnvelope(Output):
    """One immutable event, exactly as webhooks deliver it."""

    id: Annotated[str, Meta(description="`evt_…`; also the webhook-id.")]
    type: Annotated[str, Meta(examples=["order.paid"])]
    occurred_at: datetime
    tenant_id: UUID
    entity: EventEntity
    cursor: Annotated[str, Meta(description="Same cursor space as /v1/changes.")]
    correlation_id: str
    actor: EventActor
    data: Annotated[dict[str, Any], Meta(description="The record's state after the change.")]
    changed_fields: list[str]
    previous: Annotated[dict[str, Any], Meta(description="Old values of the changed fields.")]


class EventPage(Output):
    data: list[EventEnvelope]
    next_cursor: Annotated[
        str | None,
        Meta(
            description="Where this page ends: pass it as `after` (or `cursor` for a history)"
            " to continue."
        ),
    ]
    has_more: HasMore
