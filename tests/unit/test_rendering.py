"""The text projections share (projections.rendering) equals what each rendered on its own."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import uuid4

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.context import Context
from domain.envelope import envelope, render_record
from domain.events import public_type
from projections import rendering
from projections.rendering import envelope_json, event_text
from tests.support.events import (
    ACTOR,
    JSON_VALUES,
    memory_app,
    record_lives,
    stored_contact,
    stored_events,
)


def logged_events() -> list[Any]:
    """A contact's and an order's whole lives, and webhook events, as the log holds them."""
    app = memory_app()
    tenant, *_ = app.provision_tenant(Context(uuid4(), ACTOR, "c"), "T", ["records:write"])
    ctx = Context(tenant.id, ACTOR, "corr")
    record_lives(app, ctx)
    webhook, _ = app.create_webhook(
        ctx, url="https://example.com/h", event_types=["order.*"], description="d", seal=str
    )
    app.update_webhook(ctx, webhook.id, {}, status="disabled")
    return [app.mapper.to_domain_event(stored) for stored in stored_events(app)]


def test_shared_text_is_what_each_projection_rendered() -> None:
    public = 0
    for event in logged_events():
        event_type = public_type(event)
        if event_type is None:
            continue
        public += 1
        expected = render_record(
            event.originator_id, event.state, event.originator_version, event.timestamp
        )
        assert event_text(event).representation == msgspec.json.encode(expected).decode()
        for cursor in ("", "cur_abc"):
            reference = msgspec.json.encode(envelope(event, event_type, cursor))
            assert envelope_json(event, event_type, cursor) == reference
    assert public >= 8


@settings(max_examples=100, deadline=None)
@given(custom_fields=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5))
def test_any_custom_fields_render_alike(custom_fields: dict[str, Any]) -> None:
    app, stored = stored_contact(custom_fields)
    event = app.mapper.to_domain_event(stored)
    reference = msgspec.json.encode(envelope(event, "contact.created", "c"))
    assert envelope_json(event, "contact.created", "c") == reference


def test_the_memo_knows_events_by_identity_not_by_content() -> None:
    (event,) = [e for e in logged_events() if public_type(e) == "contact.created"]
    # Another database's event with the same record id and version, but other state.
    other = dataclasses.replace(event, state={**event.state, "name": "Someone else"})
    first = event_text(event)
    assert event_text(event) is first  # rendered once
    assert event_text(other).representation != first.representation
    assert '"name":"Someone else"' in event_text(other).representation


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(rendering, "CAPACITY", 3)
    monkeypatch.setattr(rendering, "_kept", None)
    events = [e for e in logged_events() if public_type(e) is not None]
    for event in events:
        event_text(event)
        assert len(rendering._memo) <= 3
    for event in events:  # rendered again after the memo started over: the same text
        expected = render_record(
            event.originator_id, event.state, event.originator_version, event.timestamp
        )
        assert event_text(event).representation == msgspec.json.encode(expected).decode()


def test_the_memo_keeps_what_a_log_reader_keeps_until_told_to_forget(monkeypatch: Any) -> None:
    """A worker's reader keeps decoded batches for the projections that catch up later;
    their texts stay memoized as long (`keep`), and go with them (`forget`). Once the
    reader keeps none (live), the memo's usual bound holds again."""
    monkeypatch.setattr(rendering, "CAPACITY", 3)
    monkeypatch.setattr(rendering, "_kept", None)
    events = [e for e in logged_events() if public_type(e) is not None]
    assert len(events) > 3
    rendering.forget()  # what other tests rendered counts against the bound
    kept = [len(events)]
    rendering.keep(lambda: kept[0])
    texts = [event_text(event) for event in events]
    assert all(event_text(e) is t for e, t in zip(events, texts, strict=True))
    rendering.forget()
    assert not rendering._memo
    assert not rendering._ids
    assert event_text(events[0]) is not texts[0]
    assert event_text(events[0]) == texts[0]
    kept[0] = 0  # the reader let its batches go
    for event in events:
        event_text(event)
        assert len(rendering._memo) <= 3
