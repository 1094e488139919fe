"""The public event types: names, descriptions, and which domain events they come from.

Record events come from the resource registry (`domain.resources`); webhook events are
listed here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from domain.audit import AuditCheckpoint
from domain.errors import InvalidFieldError
from domain.event_classes import forget_answers, per_class
from domain.record import Record
from domain.resources import RESOURCES, on_change, resource_of
from domain.webhook import WebhookSubscription

# The record modules, one line each: importing one registers its resource, so every
# process that knows the public events knows every resource.
RECORD_MODULES = (
    "domain.contact",
    "domain.order",
)
for _module in RECORD_MODULES:
    importlib.import_module(_module)

# The public events that are not records': webhook subscriptions' and audit checkpoints'.
WEBHOOK_EVENT_TYPES: dict[str, str] = {
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
WEBHOOK_EVENTS: dict[type, str] = {
    WebhookSubscription.Disabled: "webhook.disabled",
    WebhookSubscription.Pinged: "webhook.ping",
    AuditCheckpoint.Created: "audit.checkpoint",
}
MAX_EVENT_TYPES = 50

# Views of the registry, kept current in place (importers hold these very objects):
# every public event type with its description, the record resource names, and the
# prefixes a webhook may subscribe to with `<prefix>.*`.
EVENT_TYPES: dict[str, str] = {}
RESOURCE_TYPES: list[str] = []
WILDCARD_PREFIXES: list[str] = []


def _derive() -> None:
    forget_answers()
    EVENT_TYPES.clear()
    for resource in RESOURCES.values():
        EVENT_TYPES.update(resource.event_types())
    EVENT_TYPES.update(WEBHOOK_EVENT_TYPES)
    RESOURCE_TYPES[:] = list(RESOURCES)
    WILDCARD_PREFIXES[:] = sorted({name.split(".")[0] for name in EVENT_TYPES})


on_change(_derive)
CHECKPOINT_TYPE = "audit.checkpoint"  # public, but attests the chain rather than joining it


def _public_type(kind: type) -> str | None:
    webhook_type = WEBHOOK_EVENTS.get(kind)
    if webhook_type is not None:
        return webhook_type
    resource = resource_of(kind)
    if resource is None or not issubclass(kind, Record.Event):
        return None
    name = f"{resource.name}.{kind.__name__.lower()}"
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
