"""WebhookSubscription and the event-type catalog: the domain rules, without I/O."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.secret_box import SecretBox, SecretUnavailableError
from domain.context import Actor, Context
from domain.errors import ConflictError, InvalidFieldError
from domain.events import EVENT_TYPES, check_event_types, public_type, type_matches
from domain.webhook import WebhookSubscription

CTX = Context(uuid4(), Actor("api_key", "sk_test"), "corr-1")


def subscription(**fields: object) -> WebhookSubscription:
    values = {
        "url": "https://hooks.example/in",
        "event_types": ["order.*"],
        "description": None,
        "secret": "plain:whsec_x",
        **fields,
    }
    return WebhookSubscription.create(CTX, id=uuid4(), **values)  # type: ignore[arg-type]


def test_event_types_accept_names_and_resource_wildcards() -> None:
    assert check_event_types(["order.*", "contact.created", "order.*"]) == [
        "order.*",
        "contact.created",
    ]
    assert check_event_types(["webhook.*"]) == ["webhook.*"]


@pytest.mark.parametrize(
    ("types", "field"),
    [
        ([], "event_types"),
        (["order.shipped"], "event_types[0]"),
        (["contact.created", "*"], "event_types[1]"),
        (["invoice.*"], "event_types[0]"),
        (["order.**"], "event_types[0]"),
        (["ORDER.PAID"], "event_types[0]"),
    ],
)
def test_unknown_or_missing_event_types_are_refused(types: list[str], field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_event_types(types)
    assert caught.value.field == field


@given(name=st.sampled_from(sorted(EVENT_TYPES)))
def test_a_wildcard_matches_exactly_its_resource(name: str) -> None:
    resource = name.split(".")[0]
    for prefix in ("contact", "order", "webhook"):
        assert type_matches([f"{prefix}.*"], name) == (prefix == resource)
    assert type_matches([name], name)


def test_a_subscription_lives_disables_reenables_and_is_deleted() -> None:
    sub = subscription()
    assert sub.representation()["status"] == "active"
    assert "secret" not in sub.representation()
    assert sub.update(CTX, {"description": "ops"})
    assert not sub.update(CTX, {"description": "ops"})
    sub.disable(CTX, "gone")
    assert sub.state["disabled_reason"] == "gone"
    with pytest.raises(ConflictError):
        sub.disable(CTX, "manual")
    with pytest.raises(ConflictError):
        sub.ping(CTX)
    sub.enable(CTX)
    assert sub.state == {**sub.state, "status": "active", "disabled_reason": None}
    sub.delete(CTX)
    with pytest.raises(ConflictError):
        sub.update(CTX, {"description": "again"})
    events = sub.collect_events()
    assert [public_type(e) for e in events] == [
        None,
        None,
        "webhook.disabled",
        None,
        None,
    ]


def test_rotation_keeps_the_old_secret_for_the_grace_period() -> None:
    sub = subscription(secret="plain:whsec_old")
    sub.rotate_secret(CTX, "plain:whsec_new", timedelta(hours=2))
    assert sub.secret == "plain:whsec_new"
    assert sub.previous_secret == "plain:whsec_old"
    assert sub.previous_secret_expires_at is not None
    assert sub.previous_secret_expires_at - sub.modified_on == timedelta(hours=2)
    with pytest.raises(InvalidFieldError):
        sub.rotate_secret(CTX, "plain:whsec_newer", timedelta(days=8))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "hooks.example/in",
        "ftp://hooks.example/",
        "https:///nohost",
        "https://h:99999/",
        "x" * 3000,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        subscription(url=url)
    assert caught.value.field == "url"


def test_a_ping_is_a_public_event_of_the_subscription() -> None:
    sub = subscription()
    sub.ping(CTX)
    ping = sub.collect_events()[-1]
    assert public_type(ping) == "webhook.ping"
    assert ping.state["url"] == "https://hooks.example/in"


def test_sealed_secrets_are_encrypted_under_a_key() -> None:
    box = SecretBox("server key")
    sealed = box.seal("whsec_abc")
    assert sealed.startswith("fernet:")
    assert "whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc"
    with pytest.raises(SecretUnavailableError, match="neither SYNCLINE_SECRET_KEY nor"):
        SecretBox("other key").open(sealed)
    with pytest.raises(SecretUnavailableError, match="not set"):
        SecretBox(None).open(sealed)


def test_after_a_key_rotation_the_previous_key_opens_and_only_the_current_one_seals() -> None:
    before = SecretBox("the old key").seal("whsec_old")
    rotated = SecretBox("the new key", previous_keys=["the old key"])
    assert rotated.open(before) == "whsec_old"
    after = rotated.seal("whsec_new")
    assert SecretBox("the new key").open(after) == "whsec_new"
    with pytest.raises(SecretUnavailableError):
        SecretBox("the old key").open(after)  # sealed under the current key only
    with pytest.raises(SecretUnavailableError):
        SecretBox("the new key").open(before)  # the old key no longer listed
    with pytest.raises(ValueError, match="without a current one"):
        SecretBox(None, previous_keys=["the old key"])


def test_without_a_key_secrets_are_stored_marked_plain_and_still_open_later() -> None:
    sealed = SecretBox(None).seal("whsec_abc")
    assert sealed == "plain:whsec_abc"
    assert SecretBox("server key").open(sealed) == "whsec_abc"
