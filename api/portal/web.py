"""What every portal and console page shares: templates, the session check, CSRF, the
security headers, HTML error pages, and the static files (htmx, CSS) served from the package.

Sessions are cookies (api/portal/sessions.py). Every POST carries the session's CSRF token
(a hidden `_csrf_token` field, or the `X-CSRFToken` header htmx sends): an HMAC of the
session token, so it needs no secret shared between API processes and no second cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from anyio import to_thread
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.utils.scope.state import ScopeState

from api.errors import TITLES
from api.portal import sessions
from api.portal.sessions import BrowserSession, Kind
from api.redaction import redact_secrets
from api.services import ApiServices
from domain.errors import DomainError, InvalidFieldError, RecordNotFoundError

HERE = Path(__file__).parent
STATIC_PATH = "/portal-static"
CSRF_FIELD = "_csrf_token"
CSRF_HEADER = "x-csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD"})
SESSION_KEY = "browser_session"
# Pages load only what the package serves; no frame may embed them.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
T = TypeVar("T")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["static"] = STATIC_PATH
        engine.engine.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if t else "—"

    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=configure
    )


def static_files() -> Any:
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[HERE / "static"],
        include_in_schema=False,
        cache_control=None,
    )


async def run(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work (the database, the event store) off the event loop."""
    return await to_thread.run_sync(fn, *args)


class SessionEndedError(HTTPException):
    """No live session: the page says how to get a new link."""

    status_code = 401


def services_of(request: Request[Any, Any, Any]) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


async def require_session(request: Request[Any, Any, Any], kind: Kind) -> BrowserSession:
    """The request's live session of `kind`, or SessionEndedError."""
    token = request.cookies.get(sessions.COOKIES[kind])
    services = services_of(request)
    await services.change_listener.catch_up()
    session = await run(sessions.find, services, kind, token)
    if session is None:
        raise SessionEndedError(detail=kind)
    ScopeState.from_scope(request.scope).csrf_token = session.csrf_token  # for csrf_input
    request.scope["state"][SESSION_KEY] = session
    return session


def csrf_check(kind: Kind) -> Callable[[Request[Any, Any, Any]], Any]:
    """A before-request hook: a POST without its session's CSRF token is a 403."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        if request.method in SAFE_METHODS:
            return
        token = request.headers.get(CSRF_HEADER)
        if token is None and request.content_type[0] in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            token = (await request.form()).get(CSRF_FIELD)
        cookie = request.cookies.get(sessions.COOKIES[kind])
        if (
            not cookie
            or not isinstance(token, str)
            or not hmac.compare_digest(token.encode(), sessions.csrf_token_of(cookie).encode())
        ):
            raise HTTPException(
                status_code=403,
                detail="this form is missing its CSRF token, or it belongs to another session;"
                " reload the page and try again",
            )

    return hook


def page(
    name: str, context: dict[str, Any], *, status_code: int = 200, fragment: str | None = None
) -> Template:
    """A page (or, for an htmx request naming `fragment`, that part of it: the template
    `_<fragment>.html` beside the page's, which the page includes)."""
    if fragment is not None:
        name = f"{name.rpartition('/')[0]}/_{fragment}.html"
    return Template(
        template_name=name,
        context={"fragment": fragment, **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
        media_type=MediaType.HTML,
    )


def htmx_target(request: Request[Any, Any, Any]) -> str | None:
    if request.headers.get("hx-request") != "true":
        return None
    return request.headers.get("hx-target")


def see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=303, headers=SECURITY_HEADERS)


def error_page(kind: Kind) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """The router's exception handler: errors as HTML pages, never a stack trace."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if isinstance(exc, SessionEndedError):
            status, detail = 401, "ended"
        elif isinstance(exc, InvalidFieldError):
            status, detail = 422, str(exc)
        elif isinstance(exc, RecordNotFoundError):
            status, detail = 404, "not found"
        elif isinstance(exc, DomainError):
            status, detail = 409, str(exc)
        elif isinstance(exc, HTTPException):
            status, detail = exc.status_code, str(exc.detail)
        else:
            raise exc
        return page(
            "error.html",
            {
                "kind": kind,
                "status": status,
                "title": TITLES.get(status, "Error"),
                "detail": redact_secrets(detail),
                "session": request.scope["state"].get(SESSION_KEY),
            },
            status_code=status,
        )

    return handle


def exception_handlers(kind: Kind) -> dict[Any, Any]:
    handler = error_page(kind)
    return {HTTPException: handler, DomainError: handler}
