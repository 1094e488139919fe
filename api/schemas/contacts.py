"""Contact schemas: `Contact`, `ContactCreate`, `ContactUpdate`, `ContactList`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from api.schemas.common import HasMore, NextCursor

Email = Annotated[
    str,
    Meta(min_length=3, max_length=254, description="Email address.", examples=["ada@example.com"]),
]
Name = Annotated[str, Meta(max_length=200)]
Phone = Annotated[str, Meta(max_length=50)]
Tag = Annotated[str, Meta(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], Meta(max_length=50, description="Up to 50 tags.")]
CustomFields = Annotated[
    dict[str, Any], Meta(max_length=100, description="Free-form JSON object, up to 100 keys.")
]


class ContactCreate(Struct, forbid_unknown_fields=True, frozen=True):
    email: Email
    name: Name | None = None
    phone: Phone | None = None
    company: Name | None = None
    tags: Tags = []
    custom_fields: CustomFields = {}


class ContactUpdate(Struct, forbid_unknown_fields=True, frozen=True):
    """Fields to change; omitted fields stay as they are, `null` clears an optional one."""

    email: Email | UnsetType = UNSET
    name: Name | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    company: Name | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET
    custom_fields: CustomFields | UnsetType = UNSET


class Contact(Struct, frozen=True):
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


class ContactList(Struct, frozen=True):
    data: list[Contact]
    next_cursor: NextCursor
    has_more: HasMore
