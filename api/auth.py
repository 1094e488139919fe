"""Bearer authentication (API keys and OAuth access tokens), principals, and scopes."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.access_tokens import ACCESS_TOKEN_PREFIX, AccessTokenStore
from api.clock import Clock
from api.errors import ProblemError
from api.openapi_docs import ApiOperation
from api.schemas.problem import problems
from domain.context import Actor, Context
from domain.credential import ApiKey, OAuthClient
from domain.errors import RecordNotFoundError

if TYPE_CHECKING:
    from domain.application import Syncline

# How long a verified credential is trusted without looking again. While the process hears
# `AUTH_CHANNEL` (revocation, rotation, suspension and scope changes are announced there in
# the transaction that records them), an entry is dropped the moment its credential or
# tenant changes (and the operator's call that made the change waits until it has been:
# api.auth_sync), and the timed expiry is only a backstop; while it cannot, entries live
# CACHE_SECONDS, the most a change may then take to reach this process (/readyz says so).
CACHE_SECONDS = 5.0
NOTIFIED_CACHE_SECONDS = 300.0
CACHE_MAX = 10_000
AUTH_CHANNEL = "syncline_auth"
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="syncline"'}
REQUIRED_SCOPE = "required_scope"  # route handler `opt` key, set by scoped()


@dataclass(frozen=True)
class Principal:
    """An authenticated credential of one tenant."""

    tenant_id: UUID
    actor: Actor
    scopes: frozenset[str]
    credential_id: UUID
    expires_at: datetime | None = None

    def context(self, correlation_id: str) -> Context:
        return Context(self.tenant_id, self.actor, correlation_id)


class Authenticator:
    """Checks bearer tokens (API keys and OAuth access tokens) against PostgreSQL.

    Answers are cached. `invalidate` (from the process's `AUTH_CHANNEL` listener) drops the
    answers of a changed credential or tenant at once; `listening(False)` falls back to
    entries that expire after CACHE_SECONDS. Expiry is exact either way, since a cached
    principal is checked against the wall clock on every hit.
    """

    def __init__(
        self,
        app: Syncline,
        access_tokens: AccessTokenStore | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.access_tokens = access_tokens
        self.clock = clock or Clock()
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        self._ttl = CACHE_SECONDS
        # Bumped by every invalidation: an answer verified before one is not cached after it.
        self._generation = 0

    @property
    def notified(self) -> bool:
        """Whether changes reach this cache as they commit (else: timed expiry)."""
        return self._ttl == NOTIFIED_CACHE_SECONDS

    def listening(self, connected: bool) -> None:
        """The listener's state: connected, changes arrive as notifications; not, they may
        have been missed, so everything cached is dropped and entries expire on time."""
        with self._lock:
            self._ttl = NOTIFIED_CACHE_SECONDS if connected else CACHE_SECONDS
            self._generation += 1
            self._cache.clear()

    def invalidate(self, changed: UUID) -> None:
        """Drop every answer about credential or tenant `changed`, and every refusal (a
        reactivated tenant's keys work again at once)."""
        with self._lock:
            self._generation += 1
            stale = [
                digest
                for digest, (_, principal) in self._cache.items()
                if principal is None
                or principal.credential_id == changed
                or principal.tenant_id == changed
            ]
            for digest in stale:
                del self._cache[digest]

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """`(True, answer)` when a fresh answer is cached; no I/O, safe on the event loop."""
        hit = self._cache.get(_digest(token))  # a dict read is atomic: no lock needed
        if hit is None or hit[0] <= self.clock.monotonic():
            return False, None
        return True, self._unexpired(hit[1])

    def authenticate(self, token: str) -> Principal | None:
        if not token.startswith(ACCESS_TOKEN_PREFIX) and ApiKey.parse(token) is None:
            return None  # shaped like no credential: nothing to look up or to cache
        found, principal = self.cached(token)
        if found:
            return principal
        generation = self._generation
        principal = self._verify(token)
        with self._lock:
            if generation == self._generation:  # nothing changed while we looked
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[_digest(token)] = (self.clock.monotonic() + self._ttl, principal)
        return self._unexpired(principal)

    def _unexpired(self, principal: Principal | None) -> Principal | None:
        if principal is None or principal.expires_at is None:
            return principal
        return principal if self.clock.now() < principal.expires_at else None

    def _verify(self, token: str) -> Principal | None:
        if token.startswith(ACCESS_TOKEN_PREFIX):
            return self._verify_access_token(token)
        parsed = ApiKey.parse(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = self.app.get_credential(key_id)
        if not isinstance(key, ApiKey) or not key.verify(secret, self.clock.now()):
            return None
        if not self._tenant_active(key.tenant_id):
            return None
        return Principal(
            key.tenant_id,
            Actor("api_key", key.prefix),
            frozenset(key.scopes),
            key.id,
            key.expires_at,
        )

    def _verify_access_token(self, token: str) -> Principal | None:
        grant = self.access_tokens.find(token) if self.access_tokens else None
        now = self.clock.now()
        if grant is None or now >= grant.expires_at:
            return None
        client = self.app.get_credential(grant.client_id)
        if (
            not isinstance(client, OAuthClient)
            or not client.is_live(now)
            or client.generation != grant.generation
            or not self._tenant_active(client.tenant_id)
        ):
            return None
        # A client whose scopes were narrowed narrows its outstanding tokens too.
        scopes = frozenset(grant.scopes) & frozenset(client.scopes)
        return Principal(
            client.tenant_id,
            Actor("oauth_client", client.client_id),
            scopes,
            client.id,
            grant.expires_at,
        )

    def _tenant_active(self, tenant_id: UUID) -> bool:
        try:
            return self.app.get_tenant(tenant_id).status == "active"
        except RecordNotFoundError:
            return False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    # Read from the raw ASGI headers: building the connection's Headers costs more than
    # the rest of a cached authentication.
    header = next(
        (v.decode("latin-1") for k, v in connection.scope["headers"] if k == b"authorization"),
        None,
    )
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
        services = connection.app.state.services
        authenticator: Authenticator = services.authenticator
        # Changes that reached this process before the request did apply to it.
        await services.change_listener.catch_up()
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


def require_scope(principal: Principal, scope: str | None) -> None:
    """403 unless `principal` holds `scope`; an operation that names no scope admits nobody."""
    if scope is None:
        raise ProblemError(
            403, "this operation is not open to tenant credentials", slug="forbidden"
        )
    if scope not in principal.scopes:
        raise ProblemError(
            403,
            f"this operation needs the {scope} scope, which this credential lacks"
            f" (it has: {' '.join(sorted(principal.scopes)) or 'none'})",
            slug="insufficient-scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="syncline", error="insufficient_scope",'
                f' scope="{scope}"'
            },
            required_scope=scope,
        )


async def check_scope(request: Request[Any, Any, Any]) -> None:
    """The `/v1` router's before-request hook: 403 unless the principal holds the scope the
    operation names (see `scoped`). It runs inside the route's own exception handling, so
    a 403 passes through every middleware (request id, rate-limit headers, metrics) and is
    charged to the rate limit like any answer."""
    require_scope(request.user, request.route_handler.opt.get(REQUIRED_SCOPE))


def scoped(scope: str, *errors: int) -> dict[str, Any]:
    """Route options for an operation that needs `scope`: the scope, checked by
    `check_scope` before the handler runs; its OpenAPI security; and the problem responses
    it can answer (400, 401, 403, 429 and 503 always, plus `errors`; authentication alone
    may read the database, so any operation can meet it unavailable).

    The scope lives in the handler's `opt` rather than in a Litestar guard: guards cost a
    copy of the route handler per call, about a tenth of a create's CPU."""
    return {
        "opt": {REQUIRED_SCOPE: scope},
        "security": [{"ApiKey": []}, {"OAuth2": [scope]}],
        "responses": problems(400, 401, 403, 429, 503, *errors),
        "operation_class": ApiOperation,
    }
