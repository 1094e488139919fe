"""The public shapes built from events: a record's representation and the event envelope."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

# The largest integer exact in every JSON implementation (JavaScript's Number.MAX_SAFE_INTEGER)
# and the largest RFC 8785 canonical JSON serialises (the audit chain hashes each event in
# that form): what an event may hold, in a record's data or an order's totals.
MAX_SAFE_INTEGER = 2**53 - 1
EVENT_ID_NAMESPACE = UUID("6f1c7a52-3d5e-4f7b-9c1a-2b8e5d4f6a10")
# SHA-1 with the namespace already fed in: each id copies it and adds its name.
_NAMESPACE_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes, usedforsecurity=False)
_encode = msgspec.json.Encoder().encode


def isoformat(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and a `Z`: `2026-11-29T16:11:14.123456Z`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime does not pad the year; keep what it always wrote
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if moment.microsecond and type(moment) is datetime:
        # msgspec writes an aware UTC datetime as RFC 3339 with a `Z` and all six digits
        # of a nonzero fraction: the same text, a tenth of the cost of isoformat() (the
        # projections render one or two of these per event). It refuses subclasses.
        return _encode(moment)[1:-1].decode()
    # Without a fraction msgspec writes none; in UTC, isoformat() ends in "+00:00".
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def uuid_text(value: UUID) -> str:
    """`str(value)`, written by msgspec: a fifth of the cost of UUID.__str__."""
    return _encode(value)[1:-1].decode()


def event_id(originator_id: UUID | str, version: int) -> str:
    """`evt_…`: stable for the life of the event, derived from the record id and version
    (a UUID, or its text).

    The hex of `uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{version}")`, computed without
    building UUID objects (every projected event needs one).
    """
    sha1 = _NAMESPACE_SHA1.copy()  # UUIDv5 is SHA-1 by definition: an id, not a MAC
    sha1.update(f"{originator_id}/{version}".encode())
    digest = bytearray(sha1.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return "evt_" + digest.hex()


def render_record(
    record_id: UUID, state: dict[str, Any], version: int, updated_at: datetime
) -> dict[str, Any]:
    return render_record_text(uuid_text(record_id), state, version, isoformat(updated_at))


def render_record_text(
    record_id: str, state: dict[str, Any], version: int, updated_at: str
) -> dict[str, Any]:
    """`render_record` from the id and the timestamp already written as text."""
    fields = {k: v for k, v in state.items() if k != "created_at"}
    return {
        "id": record_id,
        **fields,
        "version": version,
        "created_at": state.get("created_at"),
        "updated_at": updated_at,
    }


def envelope(event: Any, event_type: str, cursor: str) -> dict[str, Any]:
    """The public envelope of a record event, the same in webhooks and in /v1/events."""
    record_id = uuid_text(event.originator_id)
    occurred_at = isoformat(event.timestamp)
    data = render_record_text(record_id, event.state, event.originator_version, occurred_at)
    return envelope_text(event, event_type, cursor, record_id, occurred_at, data)


def envelope_text(
    event: Any,
    event_type: str,
    cursor: str,
    record_id: str,
    occurred_at: str,
    data: Any,
    *,
    public_id: str | None = None,
) -> dict[str, Any]:
    """`envelope` from parts already rendered: the record id and `occurred_at` as text,
    `data` (the record's representation, `render_record_text(record_id, event.state,
    event.originator_version, occurred_at)`, or something that encodes as it does), and
    the event's id (`event_id(record_id, event.originator_version)`) when known."""
    meta = event.meta
    previous = getattr(event, "previous", None) or {}
    return {
        "id": public_id or event_id(record_id, event.originator_version),
        "type": event_type,
        "occurred_at": occurred_at,
        "tenant_id": meta["tenant_id"],
        "entity": {
            "type": event_type.split(".")[0],
            "id": record_id,
            "version": event.originator_version,
        },
        "cursor": cursor,
        "correlation_id": meta["correlation_id"],
        "actor": meta["actor"],
        "data": data,
        "changed_fields": sorted(previous),
        "previous": previous,
    }
