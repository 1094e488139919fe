"""The public event types: names, descriptions, and which domain events they come from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.audit import AuditCheckpoint
from domain.errors import InvalidFieldError
from domain.event_classes import per_class
from domain.record import Record
from domain.webhook import WebhookSubscription

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
    "webhook.disabled": (
        "A webhook subscription was disabled: after failing continuously for 5 days, after its"
        " endpoint answered 410 Gone, or by its owner (`data.disabled_reason` says which)."
    ),
    "webhook.ping": "A test event sent by POST /v1/webhooks/{id}/test.",
    "audit.checkpoint": (
        "A signed checkpoint of the tenant's audit hash chain: `data` holds `sequence`,"
        " `chain_hash`, `signed_at`, `key_id` and the Ed25519 `signature`. Keep them: they"
        " prove later that history was not rewritten (see GET /v1/audit/checkpoints)."
    ),
}
RESOURCE_TYPES = ("contact", "order")
WILDCARD_PREFIXES = sorted({name.split(".")[0] for name in EVENT_TYPES})
MAX_EVENT_TYPES = 50
WEBHOOK_EVENTS: dict[type, str] = {
    WebhookSubscription.Disabled: "webhook.disabled",
    WebhookSubscription.Pinged: "webhook.ping",
    AuditCheckpoint.Created: "audit.checkpoint",
}
CHECKPOINT_TYPE = "audit.checkpoint"  # public, but attests the chain rather than joining it


def _public_type(kind: type) -> str | None:
    webhook_type = WEBHOOK_EVENTS.get(kind)
    if webhook_type is not None:
        return webhook_type
    originator = kind.__qualname__.split(".")[0]
    resource = originator.lower()
    if resource not in RESOURCE_TYPES or not issubclass(kind, Record.Event):
        return None
    name = f"{resource}.{kind.__name__.lower()}"
    return name if name in EVENT_TYPES else None


# `order.paid` for an Order.Paid event; None for events that are not public. The answer
# depends on the event's class only, and the projections ask it of every event.
public_type: Callable[[Any], str | None] = per_class(_public_type)


def check_event_types(patterns: list[str]) -> list[str]:
    """Event types a subscription asks for: known names or `<resource>.*`, at least one."""
    if not patterns:
        raise InvalidFieldError(
            "event_types", "at least one event type is required, such as order.* or contact.created"
        )
    if len(patterns) > MAX_EVENT_TYPES:
        raise InvalidFieldError("event_types", f"at most {MAX_EVENT_TYPES} event types")
    for i, pattern in enumerate(patterns):
        known = pattern in EVENT_TYPES or (
            pattern.endswith(".*") and pattern[:-2] in WILDCARD_PREFIXES
        )
        if not known:
            raise InvalidFieldError(
                f"event_types[{i}]",
                f"unknown event type {pattern!r}; GET /v1/event-types lists them, and"
                f" {', '.join(p + '.*' for p in WILDCARD_PREFIXES)} match a whole resource",
            )
    return list(dict.fromkeys(patterns))


def type_matches(patterns: list[str], event_type: str) -> bool:
    """Whether a subscription to `patterns` wants events of `event_type`."""
    return event_type in patterns or f"{event_type.split('.')[0]}.*" in patterns
