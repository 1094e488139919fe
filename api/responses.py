"""`json_response`: the one way a handler answers JSON it has already built."""

from __future__ import annotations

from typing import Any

from litestar import Response

JSON = "application/json"


def json_response(content: Any, status: int = 200, **headers: str) -> Response[Any]:
    """`content` (bytes of JSON as they are, or a value to encode) as `application/json`."""
    return Response(content=content, status_code=status, headers=headers, media_type=JSON)
