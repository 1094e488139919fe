"""Contact schemas: `Contact`, `ContactCreate`, `ContactUpdate`, `ContactList`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from api.schemas.common import DATA_SCHEMAS, HasMore, Input, NextCursor, Output
from domain.contact import MAX_CUSTOM_FIELDS, MAX_EMAIL, MAX_TAGS

Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=MAX_EMAIL,
        description="Email address.",
        examples=["ada@example.com"],
    ),
]
Name = Annotated[str, Meta(max_length=200)]
Phone = Annotated[str, Meta(max_length=50)]
Tag = Annotated[str, Meta(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], Meta(max_length=MAX_TAGS, description=f"Up to {MAX_TAGS} tags.")]
CustomFields = Annotated[
    dict[str, Any],
    Meta(
        max_length=MAX_CUSTOM_FIELDS,
        description=f"Free-form JSON object, up to {MAX_CUSTOM_FIELDS} keys.",
    ),
]


class ContactCreate(Input):
    email: Email
    name: Name | None = None
    phone: Phone | None = None
    company: Name | None = None
    tags: Tags = []
    custom_fields: CustomFields = {}


class ContactUpdate(Input):
    """Fields to change; omitted fields stay as they are, `null` clears an optional one."""

    email: Email | UnsetType = UNSET
    name: Name | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    company: Name | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET
    custom_fields: CustomFields | UnsetType = UNSET


class Contact(Output):
    id: UUID
    email: str
    name: str | None
    phone: str | None
    company: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: Annotated[int, Meta(description="Starts at 1, +1 per change; the ETag.")]
    created_at: datetime
    updated_at: datetime


DATA_SCHEMAS.add("contact", msgspec.json.schema(Contact))


class ContactList(Output):
    data: list[Contact]
    next_cursor: NextCursor
    has_more: HasMore
