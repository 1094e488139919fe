"""`json_response`: the one way a handler answers JSON it has already built (and `page_response`
for a listing page of it)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

JSON = "application/json"


def json_response(content: Any, status: int = 200, **headers: str) -> Response[Any]:
    """`content` (bytes of JSON as they are, or a value to encode) as `application/json`."""
    return Response(content=content, status_code=status, headers=headers, media_type=JSON)


def page_response(items: list[str], next_cursor: str | None, has_more: bool) -> Response[Any]:
    """A listing page, `{"data", "next_cursor", "has_more"}`, from items already JSON."""
    body = b"".join(
        [
            b'{"data":[',
            b",".join(item.encode() for item in items),
            b'],"next_cursor":',
            msgspec.json.encode(next_cursor),
            b',"has_more":',
            b"true" if has_more else b"false",
            b"}",
        ]
    )
    return json_response(body)
