"""Contact aggregate: validation, partial updates, changed fields (no I/O)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.context import Actor, Context
from domain.errors import ConflictError, InvalidFieldError
from domain.events import public_type

CTX = Context(uuid4(), Actor("api_key", "sk_test"), "corr")


def test_update_records_only_changed_fields_with_previous_values() -> None:
    contact = Contact.create(CTX, {"email": "a@example.com", "name": "A"}, id=uuid4())
    assert contact.update(CTX, {"name": "B", "email": "a@example.com"})
    event = contact.collect_events()[-1]
    assert public_type(event) == "contact.updated"
    assert event.previous == {"name": "A"}
    assert event.state["name"] == "B"


def test_update_without_change_emits_nothing() -> None:
    contact = Contact.create(CTX, {"email": "a@example.com"}, id=uuid4())
    assert not contact.update(CTX, {"email": "a@example.com"})
    assert contact.version == 1


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "a @b.co", "x" * 250 + "@b.co"])
def test_bad_email_is_refused(email: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        Contact.create(CTX, {"email": email}, id=uuid4())
    assert refused.value.field == "email"


def test_deleted_contact_refuses_changes() -> None:
    contact = Contact.create(CTX, {"email": "a@example.com"}, id=uuid4())
    contact.delete(CTX)
    with pytest.raises(ConflictError):
        contact.update(CTX, {"name": "x"})
    assert public_type(contact.collect_events()[-1]) == "contact.deleted"


def test_representation_has_id_version_and_timestamps() -> None:
    contact = Contact.create(CTX, {"email": "a@example.com", "tags": ["x"]}, id=uuid4())
    rep = contact.representation()
    assert rep["id"] == str(contact.id)
    assert rep["version"] == 1
    assert rep["created_at"] == rep["updated_at"]
    assert rep["created_at"].endswith("Z")
    assert rep["tags"] == ["x"]


@pytest.mark.parametrize(
    "custom_fields",
    [
        {"_type_": "uuid_hex", "_data_": "00000000000000000000000000000000"},
        {"nested": [{"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00"}]},
    ],
)
def test_custom_fields_may_not_mimic_typed_values(custom_fields: dict) -> None:
    # The event store's JSON decoder would turn these into UUIDs/datetimes: refuse them
    # rather than hand the client back different data than it sent.
    with pytest.raises(InvalidFieldError) as refused:
        Contact.create(CTX, {"email": "a@example.com", "custom_fields": custom_fields}, id=uuid4())
    assert refused.value.field == "custom_fields"


def test_custom_fields_with_one_reserved_key_are_fine() -> None:
    fields = {"_type_": "mine", "other": 1}
    contact = Contact.create(CTX, {"email": "a@example.com", "custom_fields": fields}, id=uuid4())
    assert contact.state["custom_fields"] == fields
