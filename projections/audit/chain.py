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


# The largest integer RFC 8785 (I-JSON) serialises; rfc8785 refuses anything beyond.
MAX_SAFE_INTEGER = 2**53 - 1
_sorted_encode = msgspec.json.Encoder(order="sorted").encode


def canonical_json(value: Any) -> bytes:
    """RFC 8785 serialisation of a JSON value (dicts, lists, str, int, bool, None, float).

    msgspec with sorted keys writes exactly RFC 8785's bytes for most values: the same
    string escapes (`\\b \\t \\n \\f \\r`, `\\u00xx` for other controls, everything
    else literal) and integers as digits. It differs for floats (ECMAScript number
    formatting), integers beyond 2^53 - 1 (which RFC 8785 refuses), and keys holding
    characters beyond the Basic Multilingual Plane (RFC 8785 sorts by UTF-16 code units,
    msgspec by code points). A value with none of those takes the fast path, at a tenth of
    the `rfc8785` package's cost; any other goes to `rfc8785` itself.
    `tests/unit/test_audit_canonical.py` checks the two agree on generated values.
    """
    if _plain(value):
        return _sorted_encode(value)
    return bytes(rfc8785.dumps(value))


def _plain(value: Any) -> bool:
    """Whether `value` holds no float, no integer beyond 2^53 - 1, no key beyond the BMP."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                return False
            if not _plain(item):
                return False
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    return False  # floats, and anything else: rfc8785 decides


def next_hash(previous: bytes, canonical: bytes) -> bytes:
    """SHA-256(previous chain hash ‖ canonical bytes)."""
    return hashlib.sha256(previous + canonical).digest()
