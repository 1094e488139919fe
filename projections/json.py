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
