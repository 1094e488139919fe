"""EventTypeController: `/v1/event-types`, the catalog of events a webhook can ask for."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get

from api.auth import scoped
from api.schemas.audit import CheckpointEvent
from api.schemas.contacts import Contact
from api.schemas.orders import Order
from api.schemas.webhooks import EventType, EventTypeList, Webhook
from domain.events import EVENT_TYPES

# The `data` of an event is the record (or webhook) after the change, as the API shows it.
DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    "contact": msgspec.json.schema(Contact),
    "order": msgspec.json.schema(Order),
    "webhook": msgspec.json.schema(Webhook),
    "audit": msgspec.json.schema(CheckpointEvent),
}
CATALOG = EventTypeList(
    data=[
        EventType(name=name, description=description, schema=DATA_SCHEMAS[name.split(".")[0]])
        for name, description in EVENT_TYPES.items()
    ],
    next_cursor=None,
    has_more=False,
)


class EventTypeController(Controller):
    path = "/event-types"
    tags = ["Webhooks"]

    @get("/", operation_id="ListEventTypes", **scoped("records:read"))
    async def list(self) -> EventTypeList:
        """Every event type, with a description and the JSON Schema of its `data` (the record
        after the change). Subscribe to names, or to `contact.*`, `order.*`, `webhook.*`, `audit.*`.
        Needs `records:read`."""
        return CATALOG
