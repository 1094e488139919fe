"""Shapes shared by every resource."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter
from msgspec import Meta

Limit = Annotated[int, Parameter(ge=1, le=1000, description="Page size (1 to 1000).")]
CursorParam = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=2048,
        description="Opaque cursor from a previous page's `next_cursor`.",
    ),
]
NextCursor = Annotated[
    str | None,
    Meta(description="Pass as `cursor` to fetch the next page; null on the last page."),
]
HasMore = Annotated[bool, Meta(description="Whether another page follows.")]
VersionParam = Annotated[
    int | None,
    Parameter(ge=1, description="The record as it was at this version (1 is its creation)."),
]
AsOfParam = Annotated[
    str | None,
    Parameter(
        max_length=64,
        description="The record as it was at this moment (ISO 8601; UTC when no offset).",
    ),
]
