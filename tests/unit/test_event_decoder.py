"""EventDecoder reads the stored bytes of every event type exactly as the Mapper does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import Syncline
from domain.contact import Contact
from domain.context import Context
from domain.credential import ApiKey, OAuthClient
from projections.event_decoder import EventDecoder
from tests.support.events import (
    ACTOR,
    JSON_VALUES,
    memory_app,
    record_lives,
    stored_contact,
    stored_events,
)


def assert_decodes_alike(
    app: Syncline, stored: StoredEvent, decoder: EventDecoder | None = None
) -> Any:
    expected = app.mapper.to_domain_event(stored)
    decoded = (decoder or EventDecoder(app.mapper)).decode(
        stored.originator_id, stored.originator_version, stored.topic, stored.state
    )
    assert type(decoded) is type(expected)
    assert decoded.__dict__ == expected.__dict__
    # Equal is not enough: 1 == 1.0 == True. Types must match all the way down.
    assert _typed(decoded.__dict__) == _typed(expected.__dict__)
    return decoded


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def test_every_event_type_decodes_as_the_mapper_does() -> None:
    app = memory_app()
    now = datetime.now(UTC)
    tenant, api_key, _, client, _ = app.provision_tenant(
        Context(uuid4(), ACTOR, "c"), "T", ["records:write"]
    )
    ctx = Context(tenant.id, ACTOR, "corr")
    record_lives(app, ctx)
    webhook, _ = app.create_webhook(
        ctx,
        url="https://example.com/hook",
        event_types=["contact.created"],
        description="d",
        seal=lambda s: s,
    )
    app.update_webhook(ctx, webhook.id, {"description": "e"}, status="disabled")
    app.rotate_webhook_secret(ctx, webhook.id, seal=lambda s: s)
    app.change_webhook(ctx, webhook.id, lambda w: w.delete(ctx))
    app.suspend_tenant(ctx)
    app.reactivate_tenant(ctx)
    app.rotate_oauth_client(ACTOR, "c", client.id)
    app.change_credential_scopes(OAuthClient, ACTOR, "c", client.id, ["records:write"])
    app.revoke_credential(ApiKey, ACTOR, "c", api_key.id)
    key, _ = app.issue_credential(
        ApiKey, ctx, ["records:read"], expires_at=now + timedelta(seconds=1)
    )
    app.expire_credential(ACTOR, "c", key.id, now + timedelta(hours=1))

    topics = set()
    for stored in stored_events(app):
        decoded = assert_decodes_alike(app, stored)
        topics.add(stored.topic)
        assert isinstance(decoded.originator_id, UUID)
        assert isinstance(decoded.timestamp, datetime)
        assert decoded.timestamp.tzinfo is not None
    # Every aggregate's event classes were exercised (a new one should be added above).
    assert len(topics) >= 18, sorted(topics)


@settings(max_examples=150, deadline=None)
@given(custom_fields=st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5))
def test_custom_fields_come_back_byte_identical(custom_fields: dict[str, Any]) -> None:
    app, stored = stored_contact(custom_fields)
    decoded = assert_decodes_alike(app, stored)
    encode = msgspec.json.encode
    assert encode(decoded.state["custom_fields"]) == encode(custom_fields)


def test_what_msgspec_refuses_is_left_to_the_mapper() -> None:
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    app.save(Contact.create(ctx, {"email": "a@example.com"}, id=uuid4()))
    (stored,) = stored_events(app)
    # The json module writes (and reads) NaN; msgspec does not read it.
    state = stored.state.replace(b'"tenant_id":{', b'"nan":NaN,"tenant_id":{', 1)
    decoded = assert_decodes_alike(app, StoredEvent(stored.originator_id, 1, stored.topic, state))
    assert decoded.nan != decoded.nan


# Custom fields that look like (or are) the transcoder's own objects, the string "_type_",
# and text the JSON transcoder escapes (control characters are written as \u00XX).
LOOKALIKE_KEYS = st.sampled_from(["_type_", "_data_", "_type", "type_", "a"]) | st.text(max_size=4)
LOOKALIKE_VALUES = st.recursive(
    st.none()
    | st.integers(min_value=-5, max_value=5)
    | st.sampled_from(["_type_", '"_type_"', "\x01", "\\u005f", "uuid_hex", "datetime_iso"])
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(LOOKALIKE_KEYS, inner, max_size=3),
    max_leaves=8,
)
TRANSCODED = st.sampled_from(
    [
        {"_type_": "uuid_hex", "_data_": "5c8adeadcaf9478cb7c6e6c0338e1d6a"},
        {"_type_": "datetime_iso", "_data_": "2026-11-29T19:23:16.284657+00:00"},
        {"_type_": "decimal_str", "_data_": "1.50"},
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    custom_fields=st.dictionaries(LOOKALIKE_KEYS, LOOKALIKE_VALUES | TRANSCODED, max_size=4),
    top=st.dictionaries(st.sampled_from(["x", "y"]), LOOKALIKE_VALUES | TRANSCODED, max_size=2),
)
def test_lookalike_objects_decode_as_the_mapper_does(
    custom_fields: dict[str, Any], top: dict[str, Any]
) -> None:
    """Values shaped like the transcoder's objects, nested or at the top level, decode as
    the Mapper decodes them (or fail as it fails), whichever path the decoder takes."""
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    app.save(Contact.create(ctx, {"email": "a@example.com"}, id=uuid4()))
    (stored,) = stored_events(app)
    # Spliced into the stored bytes as the transcoder would have written them.
    extra = app.mapper.transcoder.encode({"custom": custom_fields, **top})[1:-1]
    state = stored.state.replace(b'"tenant_id":{', extra + b',"tenant_id":{', 1)
    spliced = StoredEvent(stored.originator_id, 1, stored.topic, state)
    # A decoder that has not seen the topic, and one that has (its plain event first).
    seasoned = EventDecoder(app.mapper)
    assert_decodes_alike(app, stored, seasoned)
    for decoder in (EventDecoder(app.mapper), seasoned):
        try:
            app.mapper.to_domain_event(spliced)
        except Exception as mapper_error:
            with pytest.raises(type(mapper_error)):
                decoder.decode(spliced.originator_id, 1, spliced.topic, spliced.state)
            continue
        assert_decodes_alike(app, spliced, decoder)
        assert_decodes_alike(app, stored, decoder)  # and the plain one after it


def test_a_plain_event_is_transcoded_at_its_top_level_only() -> None:
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    app.save(Contact.create(ctx, {"email": "a@example.com", "tags": ["x"]}, id=uuid4()))
    (stored,) = stored_events(app)
    decoder = EventDecoder(app.mapper)

    def walk(value: Any) -> Any:
        raise AssertionError("the whole event was walked")

    decoder._transcode = walk  # type: ignore[method-assign]
    decoded = decoder.decode(stored.originator_id, 1, stored.topic, stored.state)
    assert decoded.__dict__ == app.mapper.to_domain_event(stored).__dict__


def test_an_escaped_type_key_is_still_found() -> None:
    """Bytes not written by this transcoder may spell the key `\\u005ftype_`."""
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    app.save(Contact.create(ctx, {"email": "a@example.com"}, id=uuid4()))
    (stored,) = stored_events(app)
    nested = (
        b'"custom":{"id":{"\\u005ftype_":"uuid_hex","_data_":"5c8adeadcaf9478cb7c6e6c0338e1d6a"}}'
    )
    state = stored.state.replace(b'"tenant_id":{', nested + b',"tenant_id":{', 1)
    decoded = assert_decodes_alike(app, StoredEvent(stored.originator_id, 1, stored.topic, state))
    assert decoded.custom == {"id": UUID("5c8adeadcaf9478cb7c6e6c0338e1d6a")}


def test_remembered_tenant_ids_decode_alike_and_the_memo_is_bounded(monkeypatch: Any) -> None:
    from projections import event_decoder

    monkeypatch.setattr(event_decoder, "UUID_MEMO", 2)
    app = memory_app()
    tenants = [uuid4() for _ in range(3)]
    for tenant in tenants * 2:  # each tenant id decoded afresh, then remembered
        app.save(Contact.create(Context(tenant, ACTOR, "c"), {"email": "a@b.co"}, id=uuid4()))
    decoder = EventDecoder(app.mapper)
    for stored in stored_events(app):
        expected = app.mapper.to_domain_event(stored)
        decoded = decoder.decode(
            stored.originator_id, stored.originator_version, stored.topic, stored.state
        )
        assert decoded.__dict__ == expected.__dict__
        assert type(decoded.tenant_id) is UUID
        assert len(decoder._uuids) <= 2
