"""Who a portal session acts as: its tenant, and the credential (or the operator) that opened
it, recorded as the actor of every change made from a page."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from litestar import Request

from api.portal.sessions import BrowserSession
from api.portal.web import require_session
from api.records import correlation_id
from api.services import ApiServices
from domain.context import Actor, Context
from domain.credential import ApiKey, OAuthClient

OPERATOR = Actor("operator", "admin")


async def portal_session(request: Request[Any, Any, Any]) -> BrowserSession:
    return await require_session(request, "portal")


async def console_session(request: Request[Any, Any, Any]) -> BrowserSession:
    return await require_session(request, "console")


def actor_of(services: ApiServices, session: BrowserSession) -> Actor:
    if session.credential_id is None:
        return OPERATOR
    credential = services.app.get_credential(session.credential_id)
    if isinstance(credential, ApiKey):
        return Actor("api_key", credential.prefix)
    if isinstance(credential, OAuthClient):
        return Actor("oauth_client", credential.client_id)
    return OPERATOR


def tenant_context(
    services: ApiServices, session: BrowserSession, request: Request[Any, Any, Any]
) -> Context:
    assert session.tenant_id is not None
    return Context(
        session.tenant_id,
        actor_of(services, session),
        correlation_id(request) or uuid4().hex,
    )
