"""The chain's arithmetic: an event's canonical bytes and the next chain hash."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import rfc8785

from domain.envelope import MAX_SAFE_INTEGER, envelope_text
from domain.events import CHECKPOINT_TYPE, public_type
from projections.rendering import event_text, public_event_id

GENESIS = bytes(32)  # the "previous hash" of a tenant's first event
_decode = msgspec.json.Decoder().decode


class _FloatFound(Exception):
    """A JSON number with a fraction or an exponent (see `_decode_without_floats`)."""


def _refuse_float(_: str) -> Any:
    raise _FloatFound


# Decodes JSON that holds no float, and raises _FloatFound on the first one.
_decode_without_floats = msgspec.json.Decoder(float_hook=_refuse_float).decode
# Every digit to "0", and every byte that starts a character beyond the Basic Multilingual
# Plane in UTF-8 (0xF0-0xF4; 0xF5-0xFF never occur) to 0xFF: after translating JSON text
# with this table, an integer beyond 2^53 - 1 (16 digits or more) shows as 16 zeros.
_MARKS = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0xFF if byte >= 0xF0 else byte for byte in range(256)
)
_SIXTEEN_DIGITS = b"0" * 16
_BEYOND_BMP = b"\xff"


def chained_type(event: Any) -> str | None:
    """The public type of an event that joins its tenant's chain (None: it does not)."""
    event_type = public_type(event)
    return None if event_type is None or event_type == CHECKPOINT_TYPE else event_type


# The envelope's members that come from the event as decoded, not rendered as text.
_FROM_THE_EVENT = ("tenant_id", "correlation_id", "actor", "previous")


def canonical_bytes(event: Any, event_type: str) -> bytes:
    """RFC 8785 JSON of the event's public envelope without `cursor`: the envelope
    `/v1/events` and webhooks show (the same rendering), less the one per-reader member.

    The record's representation is JSON text of our own rendering: decoded with no float
    in it, it holds nothing but JSON's own types, so msgspec's sorted bytes are RFC 8785's
    once the other members are plain and the bytes show no long integer and no character
    beyond the Basic Multilingual Plane (see `canonical_json`). Anything else takes
    `canonical_json`'s way."""
    text = event_text(event)
    try:
        data = _decode_without_floats(text.representation)
        plain_data = True
    except _FloatFound:
        data, plain_data = _decode(text.representation), False
    public = envelope_text(
        event,
        event_type,
        "",
        text.record_id,
        text.occurred_at,
        data,
        public_id=public_event_id(event),
    )
    del public["cursor"]
    # The members not rendered here as text: the event's metadata and its previous values.
    if plain_data and all(map(_plain, (public[key] for key in _FROM_THE_EVENT))):
        encoded = _sorted_encode(public)
        if _no_long_integer_nor_wide_character(encoded):
            return encoded
    return canonical_json(public)


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

    Whether a value has none of those is read off msgspec's bytes (`_plain_encoding`),
    in C; a walk of the value in Python (`_plain`) cost more than the encoding itself.
    """
    try:
        encoded = _sorted_encode(value)
    except Exception:  # not JSON at all: rfc8785 decides (and raises)
        encoded = None
    if encoded is not None and _plain_encoding(value, encoded):
        return encoded
    if _plain(value):  # msgspec's bytes are canonical after all: use them
        return encoded if encoded is not None else _sorted_encode(value)
    return bytes(rfc8785.dumps(value))


def _plain_encoding(value: Any, encoded: bytes) -> bool:
    """Whether `value`, which msgspec encoded as `encoded`, is plain (see `_plain`), judged
    from the bytes: no float (decoding them meets none), nothing but JSON's own types
    (they decode back to an equal value: a datetime, a UUID or a tuple would not), no
    integer of 16 digits or more, no character beyond the Basic Multilingual Plane. A
    false answer only means the value is walked."""
    if not _no_long_integer_nor_wide_character(encoded):
        return False
    try:
        return bool(_decode_without_floats(encoded) == value)
    except _FloatFound:
        return False


def _no_long_integer_nor_wide_character(encoded: bytes) -> bool:
    """Whether JSON text shows no run of 16 digits (an integer beyond 2^53 - 1 has one) and
    no character beyond the Basic Multilingual Plane: one translation, in C."""
    marked = encoded.translate(_MARKS)
    return _SIXTEEN_DIGITS not in marked and _BEYOND_BMP not in marked


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
