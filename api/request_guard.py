"""Checks and headers that hold for every route, so no handler has to think of them.

- A path or query with NUL, another control character or invalid UTF-8 is a 400 problem
  (`RequestGuardMiddleware`), before anything reads it.
- A JSON body must say `Content-Type: application/json` (415 otherwise) and nest at most
  `MAX_JSON_DEPTH` arrays and objects deep (400 otherwise); `check_body` runs before the
  body is decoded, once the request is authenticated. Routes that read form encoding
  (`POST /oauth/token`) take no decoded body and are not checked.
- `OPTIONS` on any route is a 204 without authentication; CORS headers are added only for
  an origin listed in `SYNCLINE_CORS_ORIGINS` (`response_headers`).
- Every answer carries `X-Content-Type-Options: nosniff`; answers that carry a new secret
  or token also carry `Cache-Control: no-store`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from itertools import accumulate
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request
from litestar.config.cors import CORSConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ProblemError
from api.message_headers import encode_headers, set_headers

# Deep enough for every body the API takes (a contact's custom_fields may nest 32 levels);
# far from where decoding would exhaust Python's recursion limit.
MAX_JSON_DEPTH = 64
JSON_MEDIA_TYPE = "application/json"

# Control characters (C0 and DEL), after percent-decoding.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
# A JSON string, escapes included: its brackets are text, not nesting.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "X-Request-ID",
]
CORS_EXPOSE_HEADERS = [
    "ETag",
    "Location",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Request-ID",
]
CORS_METHODS = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]

# The operations whose answers carry a new secret or token.
NO_STORE_OPERATIONS = frozenset(
    {
        "CreateTenant",
        "IssueApiKey",
        "CreateOAuthClient",
        "RotateOAuthClient",
        "CreateWebhook",
        "RotateWebhookSecret",
        "IssueAccessToken",
    }
)


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in `body` (brackets inside strings do not count).

    Cheap when the body holds few brackets; otherwise one regex pass and C-level counting."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return MAX_JSON_DEPTH  # cannot be deeper than the limit
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _invalid_text(raw: bytes) -> bool:
    """Whether percent-encoded `raw` decodes to a control character or invalid UTF-8."""
    decoded = unquote_to_bytes(raw) if b"%" in raw else raw
    if _CONTROL_BYTES.search(decoded):
        return True
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def check_target(scope: Scope) -> None:
    """400 when the path or the query holds a control character or invalid UTF-8."""
    path: str = scope["path"]
    raw_path: bytes | None = scope.get("raw_path")
    if _CONTROL.search(path) or (raw_path is not None and _invalid_text(raw_path)):
        raise ProblemError(
            400,
            "the path holds a control character or invalid UTF-8",
            slug="invalid-parameter",
        )
    query: bytes = scope.get("query_string", b"")
    if query and _invalid_text(query.replace(b"+", b" ")):
        raise ProblemError(
            400,
            "the query holds a control character or invalid UTF-8",
            slug="invalid-parameter",
        )


def _media_type(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("content-type") or ""
    return header.partition(";")[0].strip().lower()


async def check_body(request: Request[Any, Any, Any]) -> None:
    """For a route that decodes a JSON body: 422 when it needs one and none came, 415
    unless a non-empty body says it is JSON, 400 when it nests deeper than MAX_JSON_DEPTH.
    Runs before the body is decoded."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return
    body = await request.body()  # kept on the request: decoding reads it from there
    if not body:
        if data.has_default or data.is_optional:
            return
        raise ProblemError(
            422,
            f"a request body is required: send a JSON object as {JSON_MEDIA_TYPE}",
            slug="validation-error",
            errors=[{"field": "body", "source": "body", "message": "required"}],
        )
    media_type = _media_type(request)
    if media_type != JSON_MEDIA_TYPE:
        raise ProblemError(
            415,
            f"send the body as {JSON_MEDIA_TYPE}"
            + (f", not {media_type[:100]}" if media_type else " (no Content-Type was given)"),
            slug="unsupported-media-type",
            headers={"Accept": JSON_MEDIA_TYPE},
        )
    if json_depth(body) > MAX_JSON_DEPTH:
        raise ProblemError(
            400,
            f"the JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
            slug="nesting-too-deep",
            max_depth=MAX_JSON_DEPTH,
        )


def before_request(
    *checks: Callable[[Request[Any, Any, Any]], Awaitable[None]],
) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """One before-request hook running `checks` in order, then `check_body`."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        for check in checks:
            await check(request)
        await check_body(request)

    return hook


class RequestGuardMiddleware:
    """400 for a path or query with control characters or invalid UTF-8; answers `OPTIONS`
    itself (204, no authentication: only a browser's CORS preflight needs it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # type: ignore[comparison-overlap]
            check_target(scope)
            if scope["method"] == "OPTIONS":  # type: ignore[typeddict-item]
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        await self.app(scope, receive, send)


def cors_config(origins: Iterable[str]) -> CORSConfig | None:
    """The CORS policy for `origins` (exact origins, or `*`); None when there are none."""
    allowed = [origin.strip().rstrip("/") for origin in origins if origin.strip()]
    if not allowed:
        return None
    return CORSConfig(
        allow_origins=allowed,
        allow_methods=CORS_METHODS,  # type: ignore[arg-type]
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=600,
    )


def response_headers(
    cors: CORSConfig | None,
) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before-send hook adding the headers every answer carries (see the module)."""
    preflight = encode_headers(_preflight_headers(cors).items()) if cors else []
    simple = encode_headers([("Access-Control-Expose-Headers", ", ".join(CORS_EXPOSE_HEADERS))])
    nosniff = (b"x-content-type-options", b"nosniff")
    no_store = (b"cache-control", b"no-store")

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = [nosniff]
        method: str = scope.get("method", "")  # type: ignore[assignment]
        handler = scope.get("route_handler")
        if getattr(handler, "operation_id", None) in NO_STORE_OPERATIONS:
            headers.append(no_store)
        if cors is not None and (origin := _header(scope, b"origin")) is not None:
            headers.append((b"vary", b"Origin"))
            if cors.is_origin_allowed(origin):
                allowed = "*" if cors.is_allow_all_origins else origin
                headers.append((b"access-control-allow-origin", allowed.encode("latin-1")))
                headers += preflight if method == "OPTIONS" else simple
        set_headers(message, headers)

    return hook


def _preflight_headers(cors: CORSConfig) -> dict[str, str]:
    return {
        "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
        "Access-Control-Allow-Headers": ", ".join(CORS_ALLOW_HEADERS),
        "Access-Control-Max-Age": str(cors.max_age),
    }


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
