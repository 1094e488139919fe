"""The session dependencies of the two routers, and the context a portal page's commands
run in: the session's tenant, and as actor the credential (or the operator) that opened
the session (`sessions.allowed_actor`)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from litestar import Request

from api.portal.sessions import BrowserSession
from api.portal.web import require_session
from api.records import correlation_id
from api.services import ApiServices
from domain.context import Context


async def portal_session(request: Request[Any, Any, Any]) -> BrowserSession:
    return await require_session(request, "portal")


async def console_session(request: Request[Any, Any, Any]) -> BrowserSession:
    return await require_session(request, "console")


def tenant_context(
    services: ApiServices, session: BrowserSession, request: Request[Any, Any, Any]
) -> Context:
    assert session.tenant_id is not None
    return Context(
        session.tenant_id,
        session.actor,
        correlation_id(request) or uuid4().hex,
    )
