"""JSON for PostgreSQL parameters, encoded by msgspec."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg.types.json import Json, Jsonb

_encoder = msgspec.json.Encoder()


def jsonb(value: Any) -> Jsonb:
    """A jsonb parameter."""
    return Jsonb(value, dumps=lambda obj: _encoder.encode(obj).decode())


def json_text(value: Any) -> Json:
    """A json parameter (key order and spacing kept as msgspec writes them)."""
    return Json(value, dumps=lambda obj: _encoder.encode(obj).decode())


def array_literal(values: list[Any]) -> str | list[Any]:
    """A PostgreSQL array parameter for a `%s::<type>[]` placeholder, written by msgspec.

    For UUIDs, integers, booleans, None and strings that need no escape (UUIDs and
    timestamps as text, type names), a JSON array is an array literal once its brackets
    are braces: PostgreSQL reads `{"a",1,true,null}` as JSON means it. One C call writes
    it, where psycopg dumps a list element by element in Python (a projection sends
    several such columns per event). Escapes are where the two syntaxes differ (JSON's
    `\n` is PostgreSQL's `n`), so a list whose text holds a backslash is left for psycopg.
    Not for floats (msgspec writes NaN as null) or datetimes (msgspec rounds a UTC offset
    to the minute): send timestamps as `isoformat()` text.
    """
    text = _encoder.encode(values)
    if b"\\" in text:
        return values
    return "{" + text[1:-1].decode() + "}"
