"""Credential lifecycle: issue, verify, change scopes, rotate, revoke, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.context import Actor, Context
from domain.credential import ApiKey, Credential, OAuthClient
from domain.errors import ConflictError, InvalidFieldError

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CTX = Context(uuid4(), Actor("operator", "admin"), "req-1")


def test_an_issued_key_verifies_only_its_own_secret() -> None:
    key, secret = ApiKey.issue(CTX, ["records:read"])
    assert len(secret) >= 43  # 256 bits, URL-safe base64
    assert secret not in key.secret_hash
    assert key.verify(secret, NOW)
    assert not key.verify(secret + "x", NOW)
    assert ApiKey.parse(key.token(secret)) == (key.id, secret)
    assert key.token(secret).startswith(key.prefix + "_")


@pytest.mark.parametrize(
    "token", ["", "sk_", "sk_abc_def", "sk_" + "z" * 32 + "_s", "sk_" + "a" * 32, "at_x", "cs_x"]
)
def test_strings_not_shaped_like_keys_do_not_parse(token: str) -> None:
    assert ApiKey.parse(token) is None


def test_every_change_records_its_actor_and_correlation_id() -> None:
    client, _ = OAuthClient.issue(CTX, ["records:read", "records:write"])
    other = Context(CTX.tenant_id, Actor("operator", "ops"), "req-2")
    client.change_scopes(other, ["records:read"])
    client.rotate(other)
    client.revoke(other)
    events = client.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Created",
        "ScopesChanged",
        "SecretRotated",
        "Revoked",
    ]
    assert events[0].meta["correlation_id"] == "req-1"
    for event in events[1:]:
        assert event.meta["actor"] == {"type": "operator", "id": "ops"}
        assert event.meta["correlation_id"] == "req-2"
    assert events[1].previous == ["records:read", "records:write"]


def test_rotation_replaces_the_secret_and_bumps_the_generation() -> None:
    client, old = OAuthClient.issue(CTX, ["records:read"])
    new = client.rotate(CTX)
    assert client.generation == 1
    assert client.verify_client_secret(OAuthClient.client_secret(new), NOW)
    assert not client.verify_client_secret(OAuthClient.client_secret(old), NOW)
    assert not client.verify_client_secret(new, NOW)  # the cs_ prefix is part of the secret


def test_a_revoked_credential_neither_verifies_nor_changes() -> None:
    client, secret = OAuthClient.issue(CTX, ["records:read"])
    client.revoke(CTX)
    assert not client.verify(secret, NOW)
    with pytest.raises(ConflictError):
        client.rotate(CTX)
    with pytest.raises(ConflictError):
        client.change_scopes(CTX, ["events:read"])
    with pytest.raises(ConflictError):
        client.revoke(CTX)


def test_expiry_stops_a_credential_at_its_time_and_is_recorded_once() -> None:
    key, secret = ApiKey.issue(CTX, ["records:read"], NOW + timedelta(hours=1), now=NOW)
    assert key.verify(secret, NOW + timedelta(minutes=59))
    assert not key.verify(secret, NOW + timedelta(hours=1))
    with pytest.raises(ConflictError):
        key.expire(CTX, NOW)
    key.expire(CTX, NOW + timedelta(hours=1))
    assert key.status == "expired"
    with pytest.raises(ConflictError):
        key.expire(CTX, NOW + timedelta(hours=2))
    assert isinstance(key.collect_events()[-1], Credential.Expired)


@pytest.mark.parametrize(
    ("expires_at", "field"),
    [(NOW - timedelta(seconds=1), "expires_at"), (datetime(2031, 1, 1), "expires_at")],
)
def test_an_expiry_in_the_past_or_without_zone_is_refused(expires_at: datetime, field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        ApiKey.issue(CTX, ["records:read"], expires_at, now=NOW)
    assert caught.value.field == field


@pytest.mark.parametrize("scopes", [[], ["admin"], ["records:read", "x" * 10_000]])
def test_unknown_or_no_scopes_are_refused(scopes: list[str]) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        ApiKey.issue(CTX, scopes)
    assert caught.value.field == "scopes"
    assert len(str(caught.value)) < 300


def test_unchanged_scopes_record_nothing() -> None:
    key, _ = ApiKey.issue(CTX, ["records:read", "events:read"])
    key.change_scopes(CTX, ["events:read", "records:read"])
    assert len(key.collect_events()) == 1
