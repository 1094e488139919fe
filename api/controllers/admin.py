"""AdminController: the operator's `/admin` routes (admin token only)."""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import bearer_token
from api.credentials import (
    credential_history,
    credential_id,
    credential_page,
    credential_view,
    issued_oauth_client,
)
from api.errors import ProblemError
from api.openapi_docs import documented
from api.parameters import list_position, page_cursor
from api.records import correlation_id
from api.schemas.admin import (
    ApiKeyCreate,
    Connection,
    Credential,
    CredentialHistory,
    CredentialList,
    IssuedApiKey,
    IssuedOAuthClient,
    OAuthClientCreate,
    ScopesUpdate,
    Tenant,
    TenantCreate,
    TenantList,
    TenantQuery,
)
from api.schemas.common import CursorParam, Limit
from api.services import ApiServices
from domain.context import Actor, Context
from domain.credential import ApiKey, OAuthClient
from domain.credential import Credential as CredentialRecord
from projections.tenants.view import TenantsView

OPERATOR = Actor("operator", "admin")
ADMIN_NAMESPACE = UUID(int=0)


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    expected = connection.app.state.services.admin_token
    token = bearer_token(connection)
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ProblemError(
            401,
            "the admin token is not valid",
            slug="invalid-token",
            headers={"WWW-Authenticate": 'Bearer realm="syncline-admin", error="invalid_token"'},
        )


def tenant_view(tenant: Any) -> Tenant:
    return Tenant(
        id=tenant.id, name=tenant.name, created_at=tenant.created_on, status=tenant.status
    )


class AdminController(Controller):
    path = "/admin"
    tags = ["Operator"]
    guards = [admin_guard]
    security = [{"AdminToken": []}]

    @post(
        "/tenants",
        operation_id="CreateTenant",
        summary="Provision a tenant and its credentials",
        response_description="The tenant, an API key and an OAuth client (their secrets shown"
        " only here).",
        sync_to_thread=True,
        **documented(400, 401, 413, 422),
    )
    def create_tenant(
        self, data: TenantCreate, request: Request[Any, Any, Any], services: ApiServices
    ) -> Connection:
        """Provision a customer: a tenant, an API key and an OAuth client in one call.

        This is the org-activated connection: store the answer's credentials in your
        integration platform. The key and the client secret appear only in this answer."""
        ctx = Context(ADMIN_NAMESPACE, OPERATOR, correlation_id(request))
        tenant, key, key_secret, client, client_secret = services.app.provision_tenant(
            ctx, data.name, list(data.scopes)
        )
        return Connection(
            tenant=tenant_view(tenant),
            api_key=IssuedApiKey(
                id=key.id, key=key.token(key_secret), prefix=key.prefix, scopes=key.scopes
            ),
            oauth_client=issued_oauth_client(client, client_secret),
        )

    @get(
        "/tenants",
        operation_id="ListTenants",
        summary="List tenants",
        response_description="A page of tenants, oldest first.",
        sync_to_thread=True,
        **documented(400, 401),
    )
    def list_tenants(
        self,
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
        q: TenantQuery = None,
    ) -> TenantList:
        """List tenants, oldest first; `q` searches them by name or id prefix."""
        after = None
        if cursor is not None:
            after = list_position(services, "tenants", ADMIN_NAMESPACE, cursor, 2)
        page = TenantsView(services.pool).tenants(query=q, after=after, limit=limit)
        return TenantList(
            data=[
                Tenant(id=t.id, name=t.name, created_at=t.created_at, status=t.status)  # type: ignore[arg-type]
                for t in page.items
            ],
            next_cursor=page_cursor(services, "tenants", ADMIN_NAMESPACE, page),
            has_more=page.has_more,
        )

    @get(
        "/tenants/{tenant_id:uuid}",
        operation_id="GetTenant",
        summary="Get a tenant",
        response_description="The tenant.",
        sync_to_thread=True,
        **documented(400, 401, 404),
    )
    def get_tenant(self, tenant_id: UUID, services: ApiServices) -> Tenant:
        """Get one tenant."""
        return tenant_view(services.app.get_tenant(tenant_id))

    @post(
        "/tenants/{tenant_id:uuid}/api-keys",
        operation_id="IssueApiKey",
        summary="Issue an API key",
        response_description="The API key (its `key` shown only here).",
        sync_to_thread=True,
        **documented(400, 401, 404, 422),
    )
    def issue_api_key(
        self,
        tenant_id: UUID,
        data: ApiKeyCreate,
        request: Request[Any, Any, Any],
        services: ApiServices,
    ) -> Response[IssuedApiKey]:
        """Issue another API key for a tenant; the key appears only in this answer.

        `expires_at` (optional, with a time zone) ends the key by itself."""
        ctx = Context(tenant_id, OPERATOR, correlation_id(request))
        key, secret = services.app.issue_credential(
            ApiKey, ctx, list(data.scopes), data.expires_at, now=services.clock.now()
        )
        return Response(
            IssuedApiKey(
                id=key.id,
                key=key.token(secret),
                prefix=key.prefix,
                scopes=key.scopes,
                expires_at=key.expires_at,
            ),
            status_code=201,
        )

    @post(
        "/tenants/{tenant_id:uuid}/suspend",
        operation_id="SuspendTenant",
        summary="Suspend a tenant",
        response_description="The tenant, now `suspended`.",
        **documented(400, 401, 404, 409),
        sync_to_thread=True,
        status_code=200,
    )
    def suspend_tenant(
        self, tenant_id: UUID, request: Request[Any, Any, Any], services: ApiServices
    ) -> Tenant:
        """Suspend a tenant: every credential of it stops working until it is reactivated,
        on every API process from the moment this call returns. Nothing is deleted."""
        ctx = Context(tenant_id, OPERATOR, correlation_id(request))
        tenant = services.app.suspend_tenant(ctx)
        services.settle_auth()
        return tenant_view(tenant)

    @post(
        "/tenants/{tenant_id:uuid}/reactivate",
        operation_id="ReactivateTenant",
        summary="Reactivate a tenant",
        response_description="The tenant, `active` again.",
        **documented(400, 401, 404, 409),
        sync_to_thread=True,
        status_code=200,
    )
    def reactivate_tenant(
        self, tenant_id: UUID, request: Request[Any, Any, Any], services: ApiServices
    ) -> Tenant:
        """Reactivate a suspended tenant; its unrevoked, unexpired credentials work again."""
        ctx = Context(tenant_id, OPERATOR, correlation_id(request))
        tenant = services.app.reactivate_tenant(ctx)
        services.settle_auth()
        return tenant_view(tenant)

    @get(
        "/tenants/{tenant_id:uuid}/credentials",
        operation_id="ListCredentials",
        summary="List a tenant's credentials",
        response_description="A page of the tenant's API keys and OAuth clients, oldest first.",
        **documented(400, 401, 404),
        sync_to_thread=True,
    )
    def list_credentials(
        self,
        tenant_id: UUID,
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
    ) -> CredentialList:
        """List a tenant's API keys and OAuth clients, oldest first, with their status.

        Secrets are never listed. A credential issued, revoked or rotated by a call that
        returned is listed as such."""
        services.app.get_tenant(tenant_id)
        return credential_page(services, tenant_id, limit=limit, cursor=cursor)

    @get(
        "/credentials/{credential:str}",
        operation_id="GetCredential",
        summary="Get a credential",
        response_description="The credential's metadata (never its secret).",
        **documented(400, 401, 404),
        sync_to_thread=True,
    )
    def get_credential(self, credential: str, services: ApiServices) -> Credential:
        """Get one credential by id, API key prefix (`sk_…`) or OAuth client id (`cli_…`)."""
        found = services.app.credential_of(
            CredentialRecord, credential_id(credential, "credential")
        )
        return credential_view(services, found)

    @get(
        "/credentials/{credential:str}/history",
        operation_id="GetCredentialHistory",
        summary="Get a credential's history",
        response_description="A page of the credential's lifecycle events, oldest first.",
        **documented(400, 401, 404),
        sync_to_thread=True,
    )
    def get_credential_history(self, credential: str, services: ApiServices) -> CredentialHistory:
        """Every lifecycle event of a credential (created, scopes changed, rotated, revoked,
        expired), oldest first, each with its actor and correlation id."""
        found = services.app.credential_of(
            CredentialRecord, credential_id(credential, "credential")
        )
        return credential_history(services, found.id)

    @patch(
        "/api-keys/{key:str}",
        operation_id="UpdateApiKeyScopes",
        summary="Change an API key's scopes",
        response_description="The API key's metadata, with its new scopes.",
        **documented(400, 401, 404, 409, 422),
        sync_to_thread=True,
    )
    def update_api_key(
        self, key: str, data: ScopesUpdate, request: Request[Any, Any, Any], services: ApiServices
    ) -> Credential:
        """Replace an API key's scopes; in effect on every API process once this returns."""
        updated = services.app.change_credential_scopes(
            ApiKey, OPERATOR, correlation_id(request), credential_id(key, "key"), list(data.scopes)
        )
        services.settle_auth()
        return credential_view(services, updated)

    @delete(
        "/api-keys/{key:str}",
        operation_id="RevokeApiKey",
        summary="Revoke an API key",
        response_description="Revoked (or already revoked).",
        **documented(400, 401, 404),
        sync_to_thread=True,
        status_code=204,
    )
    def revoke_api_key(
        self, key: str, request: Request[Any, Any, Any], services: ApiServices
    ) -> None:
        """Revoke an API key (by id or prefix). It stops working on every API process before
        this call returns. Revoking it again changes nothing."""
        services.app.revoke_credential(
            ApiKey, OPERATOR, correlation_id(request), credential_id(key, "key")
        )
        services.settle_auth()

    @post(
        "/tenants/{tenant_id:uuid}/oauth-clients",
        operation_id="CreateOAuthClient",
        summary="Create an OAuth client",
        response_description="The OAuth client (its `client_secret` shown only here).",
        **documented(400, 401, 404, 422),
        sync_to_thread=True,
    )
    def create_oauth_client(
        self,
        tenant_id: UUID,
        data: OAuthClientCreate,
        request: Request[Any, Any, Any],
        services: ApiServices,
    ) -> Response[IssuedOAuthClient]:
        """Create another OAuth client for a tenant; the secret appears only in this answer."""
        ctx = Context(tenant_id, OPERATOR, correlation_id(request))
        client, secret = services.app.issue_credential(
            OAuthClient, ctx, list(data.scopes), data.expires_at, now=services.clock.now()
        )
        return Response(issued_oauth_client(client, secret), status_code=201)

    @post(
        "/oauth-clients/{client:str}/rotate",
        operation_id="RotateOAuthClient",
        summary="Rotate an OAuth client's secret",
        response_description="The OAuth client with its new `client_secret` (shown only here).",
        **documented(400, 401, 404, 409),
        sync_to_thread=True,
        status_code=200,
    )
    def rotate_oauth_client(
        self, client: str, request: Request[Any, Any, Any], services: ApiServices
    ) -> IssuedOAuthClient:
        """Give an OAuth client a new secret (shown only in this answer). The old secret and
        every access token minted with it stop working on every API process before this
        call returns."""
        rotated, secret = services.app.rotate_oauth_client(
            OPERATOR, correlation_id(request), credential_id(client, "client")
        )
        services.settle_auth()
        return issued_oauth_client(rotated, secret)

    @patch(
        "/oauth-clients/{client:str}",
        operation_id="UpdateOAuthClientScopes",
        summary="Change an OAuth client's scopes",
        response_description="The OAuth client's metadata, with its new scopes.",
        **documented(400, 401, 404, 409, 422),
        sync_to_thread=True,
    )
    def update_oauth_client(
        self,
        client: str,
        data: ScopesUpdate,
        request: Request[Any, Any, Any],
        services: ApiServices,
    ) -> Credential:
        """Replace an OAuth client's scopes; its outstanding access tokens are narrowed too."""
        updated = services.app.change_credential_scopes(
            OAuthClient,
            OPERATOR,
            correlation_id(request),
            credential_id(client, "client"),
            list(data.scopes),
        )
        services.settle_auth()
        return credential_view(services, updated)

    @delete(
        "/oauth-clients/{client:str}",
        operation_id="RevokeOAuthClient",
        summary="Revoke an OAuth client",
        response_description="Revoked (or already revoked).",
        **documented(400, 401, 404),
        sync_to_thread=True,
        status_code=204,
    )
    def revoke_oauth_client(
        self, client: str, request: Request[Any, Any, Any], services: ApiServices
    ) -> None:
        """Revoke an OAuth client (by id or `cli_…`): its secret and access tokens stop working
        on every API process before this call returns. Revoking it again changes nothing."""
        services.app.revoke_credential(
            OAuthClient, OPERATOR, correlation_id(request), credential_id(client, "client")
        )
        services.settle_auth()
