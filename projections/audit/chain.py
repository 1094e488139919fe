"""The chain's arithmetic: an event's canonical bytes and the next chain hash."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import rfc8785

from domain.envelope import envelope_text
from domain.events import CHECKPOINT_TYPE, public_type
from projections.rendering import event_text

GENESIS = bytes(32)  # the "previous hash" of a tenant's first event
_decode = msgspec.json.Decoder().decode


def chained_type(event: Any) -> str | None:
    """The public type of an event that joins its tenant's chain (None: it does not)."""
    event_type = public_type(event)
    return None if event_type is None or event_type == CHECKPOINT_TYPE else event_type


def canonical_bytes(event: Any, event_type: str) -> bytes:
    """RFC 8785 JSON of the event's public envelope without `cursor`: the envelope
    `/v1/events` and webhooks show (the same rendering), less the one per-reader member."""
    text = event_text(event)
    public = envelope_text(
        event, event_type, "", text.record_id, text.occurred_at, _decode(text.representation)
    )
    del public["cursor"]
    return canonical_json(public)


def canonical_json(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


def next_hash(previous: bytes, canonical: bytes) -> bytes:
    """SHA-256(previous chain hash ‖ canonical bytes)."""
    return hashlib.sha256(previous + canonical).digest()
