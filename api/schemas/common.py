"""Shapes shared by every resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar.params import Parameter
from msgspec import Meta, Struct, field

from domain.resources import Parts

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


# `frozen_default` tells the type checker what msgspec does at run time: a subclass inherits
# its base's `frozen=True`.
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Input(Struct, forbid_unknown_fields=True, frozen=True):
    """A request body (or a part of one). A field the schema does not name is refused with
    a 422 naming it, rather than ignored, so a client's typo never passes for a change;
    decoded bodies are immutable."""


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Output(Struct, frozen=True):
    """A response body (or a part of one); immutable once built."""


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


# The `data` of a resource's events is the record after the change, as the API shows it:
# each resource's schema module adds the JSON Schema of its representation here.
DATA_SCHEMAS: Parts[dict[str, Any]] = Parts(
    "data schema", "its api/schemas module (DATA_SCHEMAS.add(name, msgspec.json.schema(…)))"
)
