"""Bearer authentication (API keys), tenant principals, and scope guards."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.errors import ProblemError
from api.schemas.problem import problems
from domain.context import Actor, Context
from domain.credential import ApiKey
from domain.errors import RecordNotFoundError

if TYPE_CHECKING:
    from domain.application import Syncline

# How long a verified credential is trusted without looking again: revocation and
# suspension reach every API process within this many seconds.
CACHE_SECONDS = 5.0
CACHE_MAX = 10_000
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="syncline"'}


@dataclass(frozen=True)
class Principal:
    """An authenticated credential of one tenant."""

    tenant_id: UUID
    actor: Actor
    scopes: frozenset[str]

    def context(self, correlation_id: str) -> Context:
        return Context(self.tenant_id, self.actor, correlation_id)


class Authenticator:
    """Checks bearer tokens against the event store, caching answers for a few seconds."""

    def __init__(
        self,
        app: Syncline,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.clock = clock
        self.now = now
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """`(True, answer)` when a fresh answer is cached; no I/O, safe on the event loop."""
        hit = self._cache.get(hashlib.sha256(token.encode()).digest())
        if hit is not None and hit[0] > self.clock():
            return True, hit[1]
        return False, None

    def authenticate(self, token: str) -> Principal | None:
        found, principal = self.cached(token)
        if found:
            return principal
        digest = hashlib.sha256(token.encode()).digest()
        principal = self._verify(token)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (self.clock() + CACHE_SECONDS, principal)
        return principal

    def _verify(self, token: str) -> Principal | None:
        parsed = ApiKey.parse(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = self.app.get_credential(key_id)
        if not isinstance(key, ApiKey) or not key.verify(secret, self.now()):
            return None
        try:
            tenant = self.app.get_tenant(key.tenant_id)
        except RecordNotFoundError:
            return None
        if tenant.status != "active":
            return None
        return Principal(key.tenant_id, Actor("api_key", key.prefix), frozenset(key.scopes))


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if not header:
        raise ProblemError(
            401,
            "missing Authorization header; send `Authorization: Bearer <token>`",
            slug="unauthenticated",
            headers=WWW_AUTHENTICATE,
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            "the Authorization header must be `Bearer <token>`",
            slug="unauthenticated",
            headers=WWW_AUTHENTICATE,
        )
    return token.strip()


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer` to a tenant Principal (`request.user`)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        from anyio import to_thread

        token = bearer_token(connection)
        authenticator: Authenticator = connection.app.state.services.authenticator
        found, principal = authenticator.cached(token)
        if not found:
            principal = await to_thread.run_sync(authenticator.authenticate, token)
        if principal is None:
            raise ProblemError(
                401,
                "the bearer token is not valid (unknown, revoked, expired, or its tenant is"
                " suspended)",
                slug="invalid-token",
                headers={"WWW-Authenticate": 'Bearer realm="syncline", error="invalid_token"'},
            )
        return AuthenticationResult(user=principal, auth=token)


def requires(scope: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A guard that lets through principals holding `scope`."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if scope not in principal.scopes:
            raise ProblemError(
                403,
                f"this credential lacks the {scope} scope",
                slug="insufficient-scope",
                required_scope=scope,
            )

    return guard


def scoped(scope: str, *errors: int) -> dict[str, Any]:
    """Route options for an operation that needs `scope`: its guard, OpenAPI security, and
    the problem responses it can answer (400, 401, 403 and 429 always, plus `errors`)."""
    return {
        "guards": [requires(scope)],
        "security": [{"ApiKey": []}, {"OAuth2": [scope]}],
        "responses": problems(400, 401, 403, 429, *errors),
    }
