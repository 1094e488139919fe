"""The public shapes built from events: a record's representation and the event envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

EVENT_ID_NAMESPACE = UUID("6f1c7a52-3d5e-4f7b-9c1a-2b8e5d4f6a10")


def isoformat(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and a `Z`: `2026-11-29T16:11:14.123456Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_id(originator_id: UUID, version: int) -> str:
    """`evt_…`: stable for the life of the event, derived from the record id and version."""
    return "evt_" + uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{version}").hex


def render_record(
    record_id: UUID, state: dict[str, Any], version: int, updated_at: datetime
) -> dict[str, Any]:
    fields = {k: v for k, v in state.items() if k != "created_at"}
    return {
        "id": str(record_id),
        **fields,
        "version": version,
        "created_at": state.get("created_at"),
        "updated_at": isoformat(updated_at),
    }


def envelope(event: Any, event_type: str, cursor: str) -> dict[str, Any]:
    """The public envelope of a record event, the same in webhooks and in /v1/events."""
    meta = event.meta
    previous = getattr(event, "previous", None) or {}
    resource = event_type.split(".")[0]
    return {
        "id": event_id(event.originator_id, event.originator_version),
        "type": event_type,
        "occurred_at": isoformat(event.timestamp),
        "tenant_id": meta["tenant_id"],
        "entity": {
            "type": resource,
            "id": str(event.originator_id),
            "version": event.originator_version,
        },
        "cursor": cursor,
        "correlation_id": meta["correlation_id"],
        "actor": meta["actor"],
        "data": render_record(
            event.originator_id, event.state, event.originator_version, event.timestamp
        ),
        "changed_fields": sorted(previous),
        "previous": previous,
    }
