"""The `/portal` and `/console` routers: pages behind a session cookie, CSRF-checked posts,
HTML error pages; and the static files they load."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post
from litestar.di import Provide

from api.portal.access import enter_console, enter_portal, logout_response
from api.portal.console import ConsolePages
from api.portal.context import console_session, portal_session
from api.portal.deliveries import DeliveryPages
from api.portal.endpoints import EndpointPages
from api.portal.sessions import BrowserSession, end
from api.portal.web import csrf_check, exception_handlers, run, services_of


@post("/logout", status_code=200)
async def portal_logout(request: Request[Any, Any, Any], session: BrowserSession) -> Response[Any]:
    await run(end, services_of(request), session)
    return logout_response("portal")


@post("/logout", status_code=200)
async def console_logout(request: Request[Any, Any, Any], session: BrowserSession) -> Response[Any]:
    await run(end, services_of(request), session)
    return logout_response("console")


def portal_router() -> Router:
    return Router(
        path="/portal",
        route_handlers=[enter_portal, EndpointPages, DeliveryPages, portal_logout],
        dependencies={"session": Provide(portal_session)},
        before_request=csrf_check("portal"),
        exception_handlers=exception_handlers("portal"),
        include_in_schema=False,
    )


def console_router() -> Router:
    return Router(
        path="/console",
        route_handlers=[enter_console, ConsolePages, console_logout],
        dependencies={"session": Provide(console_session)},
        before_request=csrf_check("console"),
        exception_handlers=exception_handlers("console"),
        include_in_schema=False,
    )
