"""CredentialExpiry: the sweep records `Expired` once per credential and forgets old tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from api.access_tokens import AccessTokenStore
from domain.context import Actor, Context
from domain.credential import ApiKey, Credential, OAuthClient
from syncline.credential_expiry import CredentialExpiry
from syncline.runtime import Runtime

OPERATOR = Actor("operator", "test")


def test_the_sweep_records_expiry_once_with_the_system_as_actor(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    tenant, *_ = runtime.app.provision_tenant(
        Context(uuid4(), OPERATOR, "t"), "Expiring", ["records:read"]
    )
    ctx = Context(tenant.id, OPERATOR, "t")
    soon, _ = runtime.app.issue_credential(
        ApiKey, ctx, ["records:read"], now + timedelta(minutes=1), now=now
    )
    later, _ = runtime.app.issue_credential(
        OAuthClient, ctx, ["records:read"], now + timedelta(days=1), now=now
    )
    revoked, _ = runtime.app.issue_credential(
        ApiKey, ctx, ["records:read"], now + timedelta(minutes=1)
    )
    runtime.app.revoke_credential(type(revoked), OPERATOR, "t", revoked.id)
    assert runtime.wait_for_projections()

    sweep = CredentialExpiry(runtime.app, runtime.pool)
    at = now + timedelta(minutes=2)
    assert sweep.run_once(at) >= 1
    assert sweep.run_once(at) == 0  # nothing left to do, even before the read model moved
    assert runtime.wait_for_projections()

    events = list(runtime.app.repository.event_store.get(soon.id))
    assert isinstance(events[-1], Credential.Expired)
    assert events[-1].meta["actor"] == {"type": "system", "id": "syncline"}
    assert events[-1].meta["correlation_id"].startswith("expiry-")
    assert runtime.app.get_credential(later.id).status == "active"  # type: ignore[union-attr]
    assert runtime.app.get_credential(revoked.id).status == "revoked"  # type: ignore[union-attr]
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT expired_at IS NOT NULL FROM credentials WHERE id = %s", (soon.id,)
        ).fetchone()
    assert row == (True,)


def test_tokens_a_day_past_their_expiry_are_purged(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    tenant, _, _, client, _ = runtime.app.provision_tenant(
        Context(uuid4(), OPERATOR, "t"), "Tokens", ["records:read"]
    )
    store = AccessTokenStore(runtime.pool, timedelta(hours=1))
    old, _ = store.mint(client, ["records:read"], now - timedelta(days=2))
    recent, _ = store.mint(client, ["records:read"], now - timedelta(hours=2))
    CredentialExpiry(runtime.app, runtime.pool).run_once(now)
    assert store.find(old) is None
    grant = store.find(recent)
    assert grant is not None
    assert grant.tenant_id == tenant.id
    assert grant.scopes == ("records:read",)
