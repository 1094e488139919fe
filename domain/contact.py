"""Contact: a person an integration syncs, with free-form tags and custom fields."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from domain.context import Context
from domain.envelope import MAX_SAFE_INTEGER
from domain.errors import InvalidFieldError
from domain.record import Record
from domain.resources import Resource, register

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = ("email", "name", "phone", "company", "tags", "custom_fields")
MAX_EMAIL = 254
MAX_TAGS = 50
MAX_CUSTOM_FIELDS = 100
MAX_DEPTH = 32


def validate_contact(fields: dict[str, Any]) -> dict[str, Any]:
    """Check a contact's fields; answer them in canonical form."""
    email = fields.get("email")
    if not isinstance(email, str) or not EMAIL.match(email) or len(email) > MAX_EMAIL:
        raise InvalidFieldError(
            "email", f"must be an email address of at most {MAX_EMAIL} characters"
        )
    tags = fields.get("tags") or []
    if len(tags) > MAX_TAGS:
        raise InvalidFieldError("tags", f"at most {MAX_TAGS} tags")
    custom_fields = fields.get("custom_fields") or {}
    if len(custom_fields) > MAX_CUSTOM_FIELDS:
        raise InvalidFieldError("custom_fields", f"at most {MAX_CUSTOM_FIELDS} keys")
    _check_custom_fields(custom_fields)
    return {
        "email": email,
        "name": fields.get("name"),
        "phone": fields.get("phone"),
        "company": fields.get("company"),
        "tags": list(tags),
        "custom_fields": dict(custom_fields),
    }


def _check_custom_fields(value: Any) -> None:
    """Refuse free-form JSON nested deeper than MAX_DEPTH, holding an integer beyond
    ±MAX_SAFE_INTEGER (inexact in JavaScript, refused by RFC 8785), or holding an object the
    event store's JSON decoder would turn into a typed value (`{"_type_": …, "_data_": …}`,
    which would hand the client back different data than it sent)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidFieldError("custom_fields", f"may nest at most {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            if set(item) == {"_type_", "_data_"}:
                raise InvalidFieldError(
                    "custom_fields",
                    'objects whose only keys are "_type_" and "_data_" are reserved'
                    " (the event store uses that shape for typed values)",
                )
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif type(item) is int and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            raise InvalidFieldError(
                "custom_fields",
                f"integers must be within ±{MAX_SAFE_INTEGER} (2^53 - 1); send larger"
                " numbers as strings",
            )


class Contact(Record):
    """A contact record of one tenant."""

    RESOURCE = "contact"

    @classmethod
    def create(
        cls,
        ctx: Context,
        fields: dict[str, Any],
        *,
        id: UUID,
        request_hash: str | None = None,
    ) -> Contact:
        contact: Contact = cls._start(
            ctx, validate_contact(fields), id=id, request_hash=request_hash
        )
        return contact

    def update(self, ctx: Context, changes: dict[str, Any]) -> bool:
        """Apply a partial update; answer whether anything changed."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise InvalidFieldError(sorted(unknown)[0], "is not a contact field")
        return self._change(ctx, validate_contact({**self.state, **changes}), self.Updated)


CONTACT = register(
    Resource(
        Contact,
        events={
            "created": "A contact was created.",
            "updated": "One or more fields of a contact changed.",
            "deleted": "A contact was deleted.",
        },
    )
)
