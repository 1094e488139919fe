"""Changes feed schemas: `Change`, `ChangePage`, `ChangeHead`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from msgspec import Meta

from api.schemas.common import HasMore, Output
from domain.events import RESOURCE_TYPES

if TYPE_CHECKING:
    ResourceType = str
else:
    # The registered resources' names, as the schema's enum (see domain.resources).
    ResourceType = Literal[tuple(RESOURCE_TYPES)]

FeedCursor = Annotated[
    str,
    Meta(
        description="Where this page ends: pass it as `cursor` to continue. Never null, so a"
        " poller can always resume; on an empty page it is the cursor you sent."
    ),
]


class Change(Output):
    """The latest state of one record, at the position of its last change."""

    cursor: Annotated[str, Meta(description="Resume the feed right after this change.")]
    resource_type: ResourceType
    id: UUID
    version: int
    deleted: Annotated[bool, Meta(description="A tombstone: the record was deleted.")]
    changed_at: datetime
    event_type: Annotated[str, Meta(examples=["order.paid"])]
    data: Annotated[
        dict[str, Any] | None,
        Meta(description="The record as `GET` shows it; null for a tombstone."),
    ]


class ChangePage(Output):
    data: list[Change]
    next_cursor: FeedCursor
    has_more: HasMore


class ChangeHead(Output):
    cursor: Annotated[
        str, Meta(description="The feed's current head: pass it as `cursor` to start from now.")
    ]
