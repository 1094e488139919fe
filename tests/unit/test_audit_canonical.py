"""The audit chain's canonical JSON is exactly RFC 8785's (the `rfc8785` package's bytes)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contact import Contact
from domain.context import Context
from domain.envelope import envelope
from projections.audit.chain import MAX_SAFE_INTEGER, canonical_bytes, canonical_json
from tests.support.events import ACTOR, JSON_VALUES, memory_app, stored_contact, stored_events

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception as error:
        return type(error)


@given(json_values)
def test_canonical_json_is_rfc8785(value: Any) -> None:
    expected = reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2, "a": 3},  # UTF-16 order differs from code points
        {"n": 1.5, "m": 1e21, "k": 0.000001},
        {"big": MAX_SAFE_INTEGER, "small": -MAX_SAFE_INTEGER},
        {"s": '\u0000\u001f\u007f\u2028\ud7ff\ue000"\\/ é'},
        [[], {}, "", 0, False, None],
    ],
)
def test_edge_cases_match(value: Any) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def event_reference(event: Any, event_type: str) -> bytes | type[Exception]:
    """RFC 8785 of the event's envelope without its cursor, as the `rfc8785` package
    writes it (or the error it raises)."""
    public = envelope(event, event_type, "")
    del public["cursor"]
    return reference(public)


def assert_canonical_bytes_match(custom_fields: dict[str, Any]) -> None:
    app, stored = stored_contact(custom_fields)
    event = app.mapper.to_domain_event(stored)
    expected = event_reference(event, "contact.created")
    if isinstance(expected, bytes):
        assert canonical_bytes(event, "contact.created") == expected
    else:
        with pytest.raises(expected):
            canonical_bytes(event, "contact.created")


@settings(max_examples=200, deadline=None)
@given(custom_fields=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5))
def test_an_events_canonical_bytes_are_rfc8785(custom_fields: dict[str, Any]) -> None:
    assert_canonical_bytes_match(custom_fields)


@pytest.mark.parametrize(
    "custom_fields",
    [
        {"phone": "1234567890123456"},  # 16 digits in a string: walked, still plain
        {"big": MAX_SAFE_INTEGER, "small": -MAX_SAFE_INTEGER},  # beyond: refused by the domain
        {"\U0001f600": 1, "\ufb01": 2},  # a key beyond the BMP: RFC 8785's order
        {"price": 1.5, "ratio": 1e21},
        {"n\u00e9": "caf\u00e9"},
    ],
)
def test_edge_cases_of_events_match(custom_fields: dict[str, Any]) -> None:
    assert_canonical_bytes_match(custom_fields)


@pytest.mark.parametrize(
    "before",
    [
        {"price": 1.5, "ratio": 1e21},  # floats in the previous values
        {"\U0001f600": 1, "\ufb01": 2},  # keys beyond the BMP in them
        {"big": MAX_SAFE_INTEGER},
        {"plain": "text"},
    ],
)
def test_an_updates_previous_values_take_rfc8785s_form(before: dict[str, Any]) -> None:
    """An update's envelope carries the changed fields' previous values as decoded from
    the stored event, not rendered by us: they must meet the same rules."""
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    contact, _ = app.create_record(
        Contact, ctx, {"email": "a@example.com", "custom_fields": before}
    )
    app.update_record(
        Contact, ctx, contact.id, lambda c: c.update(ctx, {"custom_fields": {"after": 1}})
    )
    updated = app.mapper.to_domain_event(stored_events(app)[-1])
    assert updated.previous  # the update carries what it replaced
    expected = event_reference(updated, "contact.updated")
    assert isinstance(expected, bytes)
    assert canonical_bytes(updated, "contact.updated") == expected
