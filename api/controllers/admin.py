"""AdminController: the operator's `/admin` routes (admin token only)."""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import bearer_token
from api.errors import ProblemError
from api.records import correlation_id
from api.schemas.admin import (
    ApiKeyCreate,
    Connection,
    IssuedApiKey,
    IssuedOAuthClient,
    Tenant,
    TenantCreate,
    TenantList,
)
from api.schemas.common import CursorParam, Limit
from api.schemas.problem import problems
from api.services import ApiServices
from domain.context import Actor, Context
from domain.credential import OAuthClient

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
        sync_to_thread=True,
        responses=problems(400, 401, 413, 422),
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
            oauth_client=IssuedOAuthClient(
                id=client.id,
                client_id=client.client_id,
                client_secret=OAuthClient.client_secret(client_secret),
                scopes=client.scopes,
            ),
        )

    @get("/tenants", operation_id="ListTenants", sync_to_thread=True, responses=problems(400, 401))
    def list_tenants(
        self, services: ApiServices, limit: Limit = 100, cursor: CursorParam | None = None
    ) -> TenantList:
        """List tenants, oldest first."""
        params: list[Any] = []
        where = ""
        if cursor is not None:
            try:
                created_at, last_id = services.cursors.decode("tenants", ADMIN_NAMESPACE, cursor)
            except ValueError as exc:
                raise ProblemError(
                    400, f"cursor {exc}", slug="invalid-cursor", parameter="cursor"
                ) from None
            where = "WHERE (created_at, id) > (%s::timestamptz, %s::uuid)"
            params += [created_at, last_id]
        with services.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, name, created_at, status FROM tenants {where}"
                " ORDER BY created_at, id LIMIT %s",
                [*params, limit + 1],
            ).fetchall()
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            services.cursors.encode(
                "tenants", ADMIN_NAMESPACE, [rows[-1][2].isoformat(), str(rows[-1][0])]
            )
            if has_more
            else None
        )
        return TenantList(
            data=[Tenant(id=r[0], name=r[1], created_at=r[2], status=r[3]) for r in rows],
            next_cursor=next_cursor,
            has_more=has_more,
        )

    @get(
        "/tenants/{tenant_id:uuid}",
        operation_id="GetTenant",
        sync_to_thread=True,
        responses=problems(400, 401, 404),
    )
    def get_tenant(self, tenant_id: UUID, services: ApiServices) -> Tenant:
        """Get one tenant."""
        return tenant_view(services.app.get_tenant(tenant_id))

    @post(
        "/tenants/{tenant_id:uuid}/api-keys",
        operation_id="IssueApiKey",
        sync_to_thread=True,
        responses=problems(400, 401, 404, 422),
    )
    def issue_api_key(
        self,
        tenant_id: UUID,
        data: ApiKeyCreate,
        request: Request[Any, Any, Any],
        services: ApiServices,
    ) -> Response[IssuedApiKey]:
        """Issue another API key for a tenant; the key appears only in this answer."""
        ctx = Context(tenant_id, OPERATOR, correlation_id(request))
        key, secret = services.app.issue_api_key(ctx, list(data.scopes), data.expires_at)
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
