"""Contact schemas: `Contact`, `ContactCreate`, `ContactUpdate`, `ContactList`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from api.schemas.common import DATA_SCHEMAS, HasMore, Input, NextCursor, Output
from api.schemas.examples import CREATED, examples, page
from domain.contact import MAX_CUSTOM_FIELDS, MAX_DEPTH, MAX_EMAIL, MAX_TAGS
from domain.envelope import MAX_SAFE_INTEGER

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
        description=f"Free-form JSON object, up to {MAX_CUSTOM_FIELDS} keys, nested at most"
        f" {MAX_DEPTH} levels; integers within ±{MAX_SAFE_INTEGER} (2^53 - 1, exact in every"
        " JSON implementation): send larger numbers as strings.",
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


# The OpenAPI document's examples of these bodies (see api.schemas.examples).
CONTACT_ID = "5b0e8f6a-7c3d-4e21-9a4b-0f1e2d3c4b5a"
CONTACT_CREATE = {
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "phone": "+44 20 7946 0958",
    "company": "Analytical Engines Ltd",
    "tags": ["vip", "newsletter"],
    "custom_fields": {"crm_id": "AL-1815", "preferred_language": "en"},
}
CONTACT = {
    "id": CONTACT_ID,
    **CONTACT_CREATE,
    "version": 1,
    "created_at": CREATED,
    "updated_at": CREATED,
}
examples(
    ContactCreate=CONTACT_CREATE,
    ContactUpdate={"phone": "+44 20 7946 0000", "tags": ["vip"]},
    Contact=CONTACT,
    ContactList=page(CONTACT),
)
