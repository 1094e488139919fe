"""The event catalog as the portal shows it: each type, its description, and an example of
the envelope an endpoint receives (built from the OpenAPI examples, so both agree)."""

from __future__ import annotations

import json
from typing import Any

from api import openapi_examples as ex
from api.controllers.event_types import catalog

DATA = {
    "contact": ex.CONTACT,
    "order": ex.ORDER,
    "webhook": ex.WEBHOOK,
    "audit": ex.CHECKPOINT,
}
IDS = {"contact": ex.CONTACT_ID, "order": ex.ORDER_ID, "webhook": ex.WEBHOOK_ID}


def example(event_type: str) -> dict[str, Any]:
    """An example envelope of `event_type`."""
    entity = event_type.split(".")[0]
    return {
        **ex.EVENT,
        "type": event_type,
        "entity": {"type": entity, "id": IDS.get(entity, ex.TENANT), "version": 1},
        "data": DATA[entity],
        "changed_fields": [],
        "previous": {},
    }


def entries() -> list[dict[str, str]]:
    """Every public event type with its description and example, as text."""
    return [
        {
            "name": item.name,
            "description": item.description,
            "example": json.dumps(example(item.name), indent=2),
        }
        for item in catalog().data
    ]


def names() -> list[str]:
    return [item.name for item in catalog().data]


def families() -> list[str]:
    """The wildcards a webhook may subscribe to (`contact.*`, …)."""
    return sorted({f"{name.split('.')[0]}.*" for name in names()})
