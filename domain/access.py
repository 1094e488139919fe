"""Commands on tenants and their credentials (API keys, OAuth clients)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.context import Actor, Context
from domain.credential import ApiKey, Credential, OAuthClient
from domain.errors import RecordNotFoundError
from domain.ids import new_id
from domain.retry import retrying_conflicts
from domain.tenant import Tenant

C = TypeVar("C", bound=Credential)
KIND_NAMES: dict[type[Credential], str] = {ApiKey: "API key", OAuthClient: "OAuth client"}


class AccessCommands(Application[UUID]):
    """Provisioning tenants, issuing, rotating, rescoping, revoking and expiring credentials
    (a part of `domain.application.Syncline`)."""

    def provision_tenant(
        self, ctx: Context, name: str, scopes: list[str]
    ) -> tuple[Tenant, ApiKey, str, OAuthClient, str]:
        """A tenant with a fresh API key and OAuth client, saved atomically."""
        # The tenant's own id goes into every event's metadata, its creation included.
        tenant_ctx = Context(new_id(), ctx.actor, ctx.correlation_id)
        tenant = Tenant.create(tenant_ctx, name, id=tenant_ctx.tenant_id)
        api_key, key_secret = ApiKey.issue(tenant_ctx, scopes)
        client, client_secret = OAuthClient.issue(tenant_ctx, scopes)
        self.save(tenant, api_key, client)
        return tenant, api_key, key_secret, client, client_secret

    def get_tenant(self, tenant_id: UUID) -> Tenant:
        try:
            tenant: Tenant = self.repository.get(tenant_id)
        except AggregateNotFoundError:
            raise RecordNotFoundError(f"no tenant {tenant_id}") from None
        if not isinstance(tenant, Tenant):
            raise RecordNotFoundError(f"no tenant {tenant_id}")
        return tenant

    def issue_credential(
        self,
        kind: type[C],
        ctx: Context,
        scopes: list[str],
        expires_at: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> tuple[C, str]:
        """Another credential of `kind` (ApiKey, OAuthClient) for the tenant `ctx` names;
        answers it and its secret."""
        self.get_tenant(ctx.tenant_id)
        credential, secret = kind.issue(ctx, scopes, expires_at, now=now)
        self.save(credential)
        return credential, secret

    def suspend_tenant(self, ctx: Context) -> Tenant:
        return retrying_conflicts(lambda: self._change_tenant(ctx, Tenant.suspend))

    def reactivate_tenant(self, ctx: Context) -> Tenant:
        return retrying_conflicts(lambda: self._change_tenant(ctx, Tenant.reactivate))

    def _change_tenant(self, ctx: Context, command: Callable[[Tenant, Context], object]) -> Tenant:
        tenant = self.get_tenant(ctx.tenant_id)
        command(tenant, ctx)
        self.save(tenant)
        return tenant

    def get_credential(self, credential_id: UUID) -> Credential | None:
        try:
            credential: Credential = self.repository.get(credential_id)
        except AggregateNotFoundError:
            return None
        return credential if isinstance(credential, Credential) else None

    def credential_of(self, kind: type[C], credential_id: UUID) -> C:
        """The credential of this kind (an API key is not found as an OAuth client)."""
        credential = self.get_credential(credential_id)
        if not isinstance(credential, kind):
            raise RecordNotFoundError(f"no {KIND_NAMES.get(kind, 'credential')} {credential_id}")
        return credential

    def rotate_oauth_client(
        self, actor: Actor, correlation_id: str, client_id: UUID
    ) -> tuple[OAuthClient, str]:
        def attempt() -> tuple[OAuthClient, str]:
            client = self.credential_of(OAuthClient, client_id)
            secret = client.rotate(Context(client.tenant_id, actor, correlation_id))
            self.save(client)
            return client, secret

        return retrying_conflicts(attempt)

    def revoke_credential(
        self, kind: type[C], actor: Actor, correlation_id: str, credential_id: UUID
    ) -> C:
        """Revoke a credential; revoking a revoked one changes nothing (DELETE is idempotent)."""

        def attempt() -> C:
            credential = self.credential_of(kind, credential_id)
            if not credential.revoked:
                credential.revoke(Context(credential.tenant_id, actor, correlation_id))
                self.save(credential)
            return credential

        return retrying_conflicts(attempt)

    def change_credential_scopes(
        self,
        kind: type[C],
        actor: Actor,
        correlation_id: str,
        credential_id: UUID,
        scopes: list[str],
    ) -> C:
        def attempt() -> C:
            credential = self.credential_of(kind, credential_id)
            credential.change_scopes(Context(credential.tenant_id, actor, correlation_id), scopes)
            self.save(credential)
            return credential

        return retrying_conflicts(attempt)

    def expire_credential(
        self, actor: Actor, correlation_id: str, credential_id: UUID, now: datetime
    ) -> bool:
        """Record `Expired` for a credential past its expiry; False when there is nothing to do."""

        def attempt() -> bool:
            credential = self.get_credential(credential_id)
            if credential is None or credential.status != "active":
                return False
            if not credential.is_past_expiry(now):
                return False
            credential.expire(Context(credential.tenant_id, actor, correlation_id), now)
            self.save(credential)
            return True

        return retrying_conflicts(attempt)
