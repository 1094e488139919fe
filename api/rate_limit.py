"""Per-credential rate limiting: a token bucket kept in PostgreSQL, shared by every API process.

One statement per request refills and takes from the bucket atomically: the row lock of the
UPSERT serialises a credential's concurrent requests across processes, and the refill is
computed from PostgreSQL's own clock, so processes on different hosts agree. The table is
UNLOGGED: a bucket is worth no WAL, and losing buckets in a crash only refills them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anyio import to_thread
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from psycopg_pool import ConnectionPool

from api.errors import ProblemError

SCHEMA = [
    """
    CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_buckets (
        key text PRIMARY KEY,
        tokens double precision NOT NULL,
        updated_at timestamptz NOT NULL,
        allowed boolean NOT NULL
    )
    """,
]

_REFILLED = (
    "LEAST(%(burst)s::float8, b.tokens + %(rate)s::float8"
    " * GREATEST(0, EXTRACT(EPOCH FROM EXCLUDED.updated_at - b.updated_at)::float8))"
)
TAKE = f"""
INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, allowed)
VALUES (%(key)s, %(burst)s::float8 - 1, COALESCE(%(now)s, clock_timestamp()), true)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END,
    allowed = {_REFILLED} >= 1,
    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
RETURNING tokens, allowed
"""


@dataclass(frozen=True)
class RateLimitDecision:
    """The bucket after one request: whether it was let through, and what is left."""

    allowed: bool
    limit: int
    tokens: float
    per_second: float

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    @property
    def reset_seconds(self) -> int:
        """Seconds until the bucket is full again."""
        return max(0, math.ceil((self.limit - self.tokens) / self.per_second))

    @property
    def retry_after_seconds(self) -> int:
        """Seconds until the next request can pass (at least 1)."""
        return max(1, math.ceil((1 - self.tokens) / self.per_second))

    def headers(self) -> dict[str, str]:
        """The `RateLimit-*` fields of draft-ietf-httpapi-ratelimit-headers (-06)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_second`.

    `per_second <= 0` turns limiting off.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        per_second: float,
        burst: int,
        *,
        now: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        if per_second > 0 and burst < 1:
            raise ValueError("the rate limit burst must be at least 1")
        self.pool = pool
        self.per_second = per_second
        self.burst = burst
        self.now = now

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key: str) -> RateLimitDecision:
        """Take one token from `key`'s bucket (if one is there)."""
        params = {"key": key, "burst": self.burst, "rate": self.per_second, "now": self.now()}
        with self.pool.connection() as conn:
            row = conn.execute(TAKE, params).fetchone()
        assert row is not None
        return RateLimitDecision(bool(row[1]), self.burst, float(row[0]), self.per_second)


def over_limit(decision: RateLimitDecision) -> ProblemError:
    return ProblemError(
        429,
        f"this credential is over its rate limit of {decision.per_second:g} requests per second"
        f" (bursts of {decision.limit}); retry after {decision.retry_after_seconds} s",
        slug="rate-limited",
        headers=decision.headers(),
    )


class RateLimitMiddleware:
    """Charges each authenticated request to its credential's bucket; 429 when it is empty.

    Runs after the bearer authentication, so `scope["user"]` is the Principal.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter = scope["app"].state.services.rate_limiter
        principal: Any = scope.get("user")
        if principal is None or not limiter.enabled:
            await self.app(scope, receive, send)
            return
        decision = await to_thread.run_sync(limiter.take, str(principal.credential_id))
        if not decision.allowed:
            raise over_limit(decision)
        headers = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                mutable = MutableScopeHeaders.from_message(message)
                for name, value in headers.items():
                    mutable[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
