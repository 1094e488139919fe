"""Opening the portal and the console: one-time links, and trading a link for a session.

- `POST /v1/portal-sessions` (scope `webhooks:manage`): a link to the caller's portal.
- `POST /admin/tenants/{id}/portal-sessions`: the operator's link to a tenant's portal.
- `POST /admin/console-sessions`: a link to the operator console.
- `GET /portal/session?token=…` and `GET /console/session?token=…`: the link itself; sets
  the session cookie and redirects to a URL without the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter

from api.auth import Principal, scoped
from api.controllers.admin import admin_guard
from api.errors import ProblemError
from api.openapi_docs import documented
from api.portal import sessions
from api.portal.sessions import Kind
from api.portal.web import page, run, see_other, services_of
from api.services import ApiServices


class SessionLink(msgspec.Struct):
    """A one-time link (valid 10 minutes, usable once) to open in a new tab or window.
    Following it sets a session cookie (1 hour) and redirects to a URL without the token."""

    url: Annotated[str, msgspec.Meta(description="The link; it works once.")]
    expires_at: Annotated[datetime, msgspec.Meta(description="When the link stops working.")]


def link_answer(
    request: Request[Any, Any, Any], kind: Kind, link: sessions.Link
) -> Response[SessionLink]:
    base = str(request.base_url).rstrip("/")
    return Response(
        SessionLink(url=f"{base}/{kind}/session?token={link.token}", expires_at=link.expires_at),
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


class PortalSessionController(Controller):
    path = "/portal-sessions"
    tags = ["Webhooks"]

    @post(
        "/",
        operation_id="CreatePortalSession",
        summary="Open the webhook portal",
        response_description="A one-time link to the portal of the calling tenant.",
        sync_to_thread=True,
        **scoped(sessions.MANAGE),
    )
    def create(
        self, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[SessionLink]:
        """A link to the webhook portal (pages to manage endpoints, read deliveries and
        attempts, retry and replay) for your tenant. Open it in a new tab or window; it
        works once, within 10 minutes. The session it opens lasts an hour and ends early
        when this credential is revoked or the tenant is suspended."""
        principal = request.user
        link = sessions.issue_link(
            services,
            "portal",
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
        )
        return link_answer(request, "portal", link)


class AdminSessionController(Controller):
    path = "/admin"
    tags = ["Operator"]
    guards = [admin_guard]
    security = [{"AdminToken": []}]

    @post(
        "/tenants/{tenant_id:uuid}/portal-sessions",
        operation_id="CreateTenantPortalSession",
        summary="Open a tenant's webhook portal",
        response_description="A one-time link to the tenant's portal.",
        sync_to_thread=True,
        **documented(400, 401, 404, 409),
    )
    def tenant_portal(
        self, tenant_id: UUID, request: Request[Any, Any, Any], services: ApiServices
    ) -> Response[SessionLink]:
        """A one-time link (10 minutes) to a tenant's webhook portal, as the tenant's own
        `POST /v1/portal-sessions` gives. The session ends when the tenant is suspended."""
        if services.app.get_tenant(tenant_id).status != "active":
            raise ProblemError(409, f"tenant {tenant_id} is suspended", slug="conflict")
        link = sessions.issue_link(services, "portal", tenant_id=tenant_id, credential_id=None)
        return link_answer(request, "portal", link)

    @post(
        "/console-sessions",
        operation_id="CreateConsoleSession",
        summary="Open the operator console",
        response_description="A one-time link to the operator console.",
        sync_to_thread=True,
        **documented(400, 401),
    )
    def console(
        self, request: Request[Any, Any, Any], services: ApiServices
    ) -> Response[SessionLink]:
        """A one-time link (10 minutes) to the operator console: tenants and their
        credentials, projection lag, the delivery backlog and the failing endpoints."""
        link = sessions.issue_link(services, "console", tenant_id=None, credential_id=None)
        return link_answer(request, "console", link)


async def enter(request: Request[Any, Any, Any], kind: Kind, token: str) -> Response[Any]:
    session = await run(sessions.exchange, services_of(request), kind, token)
    if session is None:
        return page("link_refused.html", {"kind": kind, "session": None}, status_code=403)
    response = see_other(f"/{kind}/")
    response.cookies.append(
        Cookie(
            key=sessions.COOKIES[kind],
            value=session.token,
            path=f"/{kind}",
            max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
    )
    return response


TOKEN = Parameter(query="token", description="The one-time link token.")


@get("/session", include_in_schema=False)
async def enter_portal(request: Request[Any, Any, Any], token: str = TOKEN) -> Response[Any]:
    return await enter(request, "portal", token)


@get("/session", include_in_schema=False)
async def enter_console(request: Request[Any, Any, Any], token: str = TOKEN) -> Response[Any]:
    return await enter(request, "console", token)


def logout_response(kind: Kind) -> Response[Any]:
    response = page("signed_out.html", {"kind": kind, "session": None})
    response.cookies.append(
        Cookie(key=sessions.COOKIES[kind], value="", path=f"/{kind}", max_age=0, httponly=True)
    )
    return response
