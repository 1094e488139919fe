"""The event catalog as the portal shows it: each type, its description, and an example of
the envelope an endpoint receives (built from the OpenAPI examples, so both agree)."""

from __future__ import annotations

import json
from typing import Any

from api import openapi_examples as ex
from api.controllers.event_types import catalog
from api.schemas.common import DATA_SCHEMAS
from api.schemas.examples import EXAMPLES, TENANT

# What is not a record resource's (those come from the registry: DATA_SCHEMAS and the
# example its schema module adds).
OTHER_DATA: dict[str, dict[str, Any]] = {"webhook": ex.WEBHOOK, "audit": ex.CHECKPOINT}


def data_example(entity: str) -> dict[str, Any]:
    """The example of an entity's representation, by its event types' family name."""
    schema = DATA_SCHEMAS.get(entity)
    if schema is not None:
        found: dict[str, Any] = EXAMPLES.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return dict(found)
    return dict(OTHER_DATA.get(entity, {}))


def example(event_type: str) -> dict[str, Any]:
    """An example envelope of `event_type`."""
    entity = event_type.split(".")[0]
    data = data_example(entity)
    return {
        **ex.EVENT,
        "type": event_type,
        "entity": {"type": entity, "id": data.get("id", TENANT), "version": 1},
        "data": data,
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
