"""EventTypeController: `/v1/event-types`, the catalog of events a webhook can ask for."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from api.auth import scoped
from api.schemas.audit import CheckpointEvent
from api.schemas.common import DATA_SCHEMAS
from api.schemas.webhooks import EventType, EventTypeList, Webhook
from domain.events import EVENT_TYPES, WEBHOOK_EVENT_TYPES

# The `data` of the events that are not records' (a record's comes from the registry).
OTHER_SCHEMAS = {
    "webhook": msgspec.json.schema(Webhook),
    "audit": msgspec.json.schema(CheckpointEvent),
}


def catalog() -> EventTypeList:
    """Every public event type with its description and the schema of its `data`."""
    return EventTypeList(
        data=[
            EventType(
                name=name,
                description=description,
                schema=(
                    OTHER_SCHEMAS[name.split(".")[0]]
                    if name in WEBHOOK_EVENT_TYPES
                    else DATA_SCHEMAS[name.split(".")[0]]
                ),
            )
            for name, description in EVENT_TYPES.items()
        ],
        next_cursor=None,
        has_more=False,
    )


class EventTypeController(Controller):
    path = "/event-types"
    tags = ["Webhooks"]

    @get(
        "/",
        operation_id="ListEventTypes",
        summary="List event types",
        response_description="Every event type, with the JSON Schema of its `data`.",
        **scoped("records:read"),
    )
    async def list(self) -> EventTypeList:
        """Every event type, with a description and the JSON Schema of its `data` (the record
        after the change). Subscribe to names, or to `contact.*`, `order.*`, `webhook.*`, `audit.*`.
        Needs `records:read`."""
        return catalog()
