"""The operator console's pages: tenants (search, create, suspend/reactivate), a tenant's
credentials (revoke), projections, the delivery backlog and the failing endpoints. Each
action calls the domain application as `/admin` does."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from api.controllers.admin import ADMIN_NAMESPACE, OPERATOR, tenant_view
from api.credentials import credential_page
from api.portal import console_readers as readers
from api.portal import sessions
from api.portal.sessions import BrowserSession
from api.portal.web import page, run, see_other, services_of
from api.records import correlation_id
from domain.context import Context
from domain.credential import ApiKey, OAuthClient
from domain.credential import Credential as CredentialRecord
from domain.errors import InvalidFieldError, RecordNotFoundError


def _ctx(request: Request[Any, Any, Any], tenant_id: UUID = ADMIN_NAMESPACE) -> Context:
    return Context(tenant_id, OPERATOR, correlation_id(request))


class ConsolePages(Controller):
    path = "/"

    @get("/", name="console:tenants")
    async def tenants(self, request: Request[Any, Any, Any], session: BrowserSession) -> Template:
        search = request.query_params.get("q")
        found, more = await run(readers.tenants, services_of(request), search)
        return page(
            "console/tenants.html",
            {"session": session, "kind": "console", "tenants": found, "more": more, "q": search},
        )

    @post("/tenants", status_code=200)
    async def create_tenant(
        self, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        name = str((await request.form()).get("name") or "").strip()
        if not name or len(name) > 200:
            raise InvalidFieldError("name", "must be 1 to 200 characters")
        ctx = _ctx(request)
        tenant, key, key_secret, client, client_secret = await run(
            services.app.provision_tenant,
            ctx,
            name,
            ["records:read", "records:write", "webhooks:manage", "events:read"],
        )
        return page(
            "console/tenant_created.html",
            {
                "session": session,
                "kind": "console",
                "tenant": tenant_view(tenant),
                "api_key": key.token(key_secret),
                "client_id": client.client_id,
                "client_secret": OAuthClient.client_secret(client_secret),
            },
        )

    @get("/tenants/{tenant_id:uuid}")
    async def tenant(
        self, tenant_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        tenant = tenant_view(await run(services.app.get_tenant, tenant_id))

        def credentials() -> Any:
            return credential_page(services, tenant_id, limit=200, cursor=None)

        return page(
            "console/tenant.html",
            {
                "session": session,
                "kind": "console",
                "tenant": tenant,
                "credentials": (await run(credentials)).data,
            },
        )

    @post("/tenants/{tenant_id:uuid}/status")
    async def set_status(
        self, tenant_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        services = services_of(request)
        status = (await request.form()).get("status")
        ctx = _ctx(request, tenant_id)
        if status == "suspended":
            await run(services.app.suspend_tenant, ctx)
        elif status == "active":
            await run(services.app.reactivate_tenant, ctx)
        else:
            raise InvalidFieldError("status", "must be active or suspended")
        return see_other(f"/console/tenants/{tenant_id}")

    @post("/tenants/{tenant_id:uuid}/credentials/{credential_id:uuid}/revoke")
    async def revoke(
        self,
        tenant_id: UUID,
        credential_id: UUID,
        request: Request[Any, Any, Any],
        session: BrowserSession,
    ) -> Response[Any]:
        services = services_of(request)

        def revoke() -> None:
            found = services.app.credential_of(CredentialRecord, credential_id)
            if found.tenant_id != tenant_id:
                raise RecordNotFoundError(f"no credential {credential_id}")
            kind = ApiKey if isinstance(found, ApiKey) else OAuthClient
            services.app.revoke_credential(kind, OPERATOR, correlation_id(request), found.id)

        await run(revoke)
        return see_other(f"/console/tenants/{tenant_id}")

    @post("/tenants/{tenant_id:uuid}/portal")
    async def open_portal(
        self, tenant_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        """Open the tenant's portal: a one-time link, followed at once."""
        services = services_of(request)
        tenant = await run(services.app.get_tenant, tenant_id)
        if tenant.status != "active":
            raise InvalidFieldError("tenant", "is suspended; reactivate it first")
        link = await run(
            lambda: sessions.issue_link(services, "portal", tenant_id=tenant_id, credential_id=None)
        )
        return see_other(f"/portal/session?token={link.token}")

    @get("/operations")
    async def operations(
        self, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        return page(
            "console/operations.html",
            {
                "session": session,
                "kind": "console",
                "projections": await run(readers.projections, services),
                "backlog": await run(readers.backlog, services),
                "failing": await run(readers.failing_endpoints, services),
                "lag_alert": services.lag_alert_seconds,
            },
        )
