"""The public event types: names, descriptions, and which domain events they come from."""

from __future__ import annotations

from typing import Any

from domain.record import Record

EVENT_TYPES: dict[str, str] = {
    "contact.created": "A contact was created.",
    "contact.updated": "One or more fields of a contact changed.",
    "contact.deleted": "A contact was deleted.",
    "order.created": "An order was created (as a draft).",
    "order.updated": "The contact, currency or line items of a draft order changed.",
    "order.placed": "An order moved from draft to placed.",
    "order.paid": "A placed order was paid.",
    "order.fulfilled": "A paid order was fulfilled.",
    "order.cancelled": "An order was cancelled.",
    "order.deleted": "A draft or cancelled order was deleted.",
    "webhook.disabled": "A webhook subscription was disabled after failing continuously.",
    "webhook.ping": "A test event sent by POST /v1/webhooks/{id}/test.",
}
RESOURCE_TYPES = ("contact", "order")


def public_type(event: Any) -> str | None:
    """`order.paid` for an Order.Paid event; None for events that are not public."""
    originator = type(event).__qualname__.split(".")[0]
    resource = originator.lower()
    if resource not in RESOURCE_TYPES or not isinstance(event, Record.Event):
        return None
    name = f"{resource}.{type(event).__name__.lower()}"
    return name if name in EVENT_TYPES else None
