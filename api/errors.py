"""RFC 9457 problem details for every error the API answers."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    MapperDeserialisationError,
    OperationalError,
)
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.observability import assign_correlation_id
from api.redaction import redact_secrets
from domain.errors import (
    ConflictError,
    DomainError,
    IdempotencyKeyReusedError,
    InvalidFieldError,
    PreconditionFailedError,
    RecordNotFoundError,
)
from projections.events.log import StoredEventUnreadableError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://syncline.dev/problems/"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemError(HTTPException):
    """An error the API answers as a problem; `slug` names its type."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.slug = slug
        self.problem_extra = extra


def problem(
    request: Request[Any, Any, Any] | None,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": redact_secrets(detail),  # input may be echoed; a credential never is
    }
    if request is not None:
        body["instance"] = redact_secrets(request.url.path)
        correlation_id = request.scope.get("state", {}).get("correlation_id")
        if not correlation_id:
            # A path no route matches (404) or a method its route lacks (405) is refused by
            # the router, before any middleware (ObservabilityMiddleware among them) runs:
            # the request gets its id, and the answer its X-Request-ID, here.
            correlation_id = assign_correlation_id(request.scope)
            headers = {**(headers or {}), "X-Request-ID": correlation_id}
        body["correlation_id"] = correlation_id
    body.update(extra)
    return Response(
        content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers or {}
    )


def _validation_errors(extra: Any) -> list[dict[str, Any]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            errors.append(
                {
                    "field": item.get("key"),
                    "source": item.get("source"),
                    "message": redact_secrets(str(item.get("message"))),
                }
            )
    return errors


# What Litestar raises (as a 500) when the client disconnects while its body is read.
CLIENT_DISCONNECTED = "client disconnected prematurely"
CLIENT_CLOSED_REQUEST = 499


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ProblemError):
        return problem(
            request,
            exc.status_code,
            exc.detail,
            slug=exc.slug,
            headers=exc.headers,
            **exc.problem_extra,
        )
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc.extra)
        if not errors:
            return problem(
                request,
                400,
                f"the request body is not valid JSON: {exc.detail}",
                slug="malformed-json",
            )
        in_body = any(e["source"] == "body" for e in errors)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        named = {} if in_body else {"parameter": errors[0]["field"]}
        return problem(
            request,
            422 if in_body else 400,
            detail,
            slug="validation-error" if in_body else "invalid-parameter",
            errors=errors,
            **named,
        )
    if isinstance(exc.__cause__, SerializationException):
        return problem(
            request, 400, f"the request body is not valid JSON: {exc.detail}", slug="malformed-json"
        )
    if exc.detail == CLIENT_DISCONNECTED:
        # The client went away before its body arrived: nobody reads this answer, and it is
        # no server error. Logged, counted and answered as 499 (nginx's "client closed
        # request"), so 5xx alerts stay about the server.
        log.info("client disconnected before its request body arrived")
        return problem(request, CLIENT_CLOSED_REQUEST, "the client closed the request")
    status = exc.status_code
    if status >= 500:
        log.error("server error", exc_info=exc)
    return problem(request, status, str(exc.detail), headers=exc.headers)


def handle_domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, InvalidFieldError):
        return problem(
            request,
            422,
            str(exc),
            slug="validation-error",
            errors=[{"field": exc.field, "source": "body", "message": exc.message}],
        )
    if isinstance(exc, IdempotencyKeyReusedError):
        return problem(request, 422, str(exc), slug="idempotency-key-reused")
    if isinstance(exc, RecordNotFoundError):
        return problem(request, 404, str(exc), slug="not-found")
    if isinstance(exc, PreconditionFailedError):
        return problem(request, 412, str(exc), slug="version-mismatch")
    if isinstance(exc, ConflictError):
        return problem(request, 409, str(exc), slug="conflict")
    return problem(request, 400, str(exc))


def handle_write_conflict(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    # Commands retry concurrent-write conflicts a few times; past that, say so rather than 500.
    return problem(
        request,
        409,
        "the resource was changed by a concurrent request; retry",
        slug="concurrent-modification",
    )


# Seconds a client should wait after a 503 for a database fault: pools reconnect within it.
DATABASE_RETRY_AFTER = 1


def handle_database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A terminated backend, a server restarting or refusing connections, an exhausted pool:
    # the fault is the server's and passing, so a retry (with the same Idempotency-Key, for a
    # create) can succeed.
    log.warning("database unavailable", exc_info=exc)
    return problem(
        request,
        503,
        "the database is unavailable for the moment; retry shortly",
        slug="database-unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def handle_unreadable_event(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A stored event that no longer decodes (the event store altered or damaged): still a
    500, but one that says what is wrong and where to look, not an unexpected error."""
    detail = (
        str(exc)
        if isinstance(exc, StoredEventUnreadableError)
        else "a stored event of this record does not decode: the event store was altered or"
        " damaged (`syncline audit verify` reports it)"
    )
    log.error("a stored event does not decode", extra={"error": str(exc)[:500]})
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, detail, slug="stored-event-unreadable")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "an unexpected error occurred; it has been logged with this request's correlation id",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: handle_http,
    DomainError: handle_domain,
    IntegrityError: handle_write_conflict,
    # psycopg's OperationalError covers AdminShutdown, refused and lost connections, and the
    # pool's PoolTimeout; the event store raises its own translations of them.
    psycopg.OperationalError: handle_database_unavailable,
    psycopg.InterfaceError: handle_database_unavailable,
    OperationalError: handle_database_unavailable,
    InterfaceError: handle_database_unavailable,
    StoredEventUnreadableError: handle_unreadable_event,
    MapperDeserialisationError: handle_unreadable_event,
    Exception: handle_unexpected,
}
MEDIA_TYPE_JSON = MediaType.JSON
