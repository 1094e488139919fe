"""Per-credential rate limiting: a token bucket kept in PostgreSQL, shared by every API process.

One statement refills and takes from the bucket atomically: the row lock of the UPSERT
serialises a credential's concurrent requests across processes, and the refill is computed
from PostgreSQL's own clock, so processes on different hosts agree. The table is UNLOGGED:
a bucket is worth no WAL, and losing buckets in a crash only refills them.

While a bucket is far from empty, a process takes a few tokens at once (a lease: at most
LEASE_MAX, and at most 1/LEASE_DIVISOR of what the bucket held) and spends them without
I/O, so a busy credential costs one statement per several requests. Near the limit leases
shrink to one token, so the limit is exact where it matters; tokens leased and not spent
within LEASE_SECONDS lapse (the credential loses them; nothing is ever over-admitted).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anyio import to_thread
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from psycopg_pool import ConnectionPool

from api.errors import ProblemError
from api.message_headers import encode_headers, set_headers

LEASE_MAX = 16
LEASE_DIVISOR = 8
LEASE_SECONDS = 1.0
LEASED_KEYS_MAX = 10_000

_REFILLED = (
    "LEAST(%(burst)s::float8, b.tokens + %(rate)s::float8"
    " * GREATEST(0, EXTRACT(EPOCH FROM EXCLUDED.updated_at - b.updated_at)::float8))"
)
_GRANTED = f"LEAST(%(want)s::float8, FLOOR({_REFILLED}))"
# Take up to `want` whole tokens (none when less than one is there); answer the level left
# and how many were granted.
TAKE = f"""
INSERT INTO rate_limit_buckets AS b (key, tokens, updated_at, granted)
VALUES (
    %(key)s,
    %(burst)s::float8 - LEAST(%(want)s, %(burst)s),
    COALESCE(%(now)s, clock_timestamp()),
    LEAST(%(want)s, %(burst)s)
)
ON CONFLICT (key) DO UPDATE SET
    tokens = {_REFILLED} - {_GRANTED},
    granted = {_GRANTED}::integer,
    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
RETURNING tokens, granted
"""


@dataclass
class _Lease:
    tokens: int  # taken from the shared bucket, not yet spent by this process
    shared: float  # the shared bucket's level just after they were taken
    until: float  # monotonic time after which they lapse


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

    `per_second <= 0` turns limiting off; `lease_max=1` makes every request a statement.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        per_second: float,
        burst: int,
        *,
        now: Callable[[], datetime | None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
        lease_max: int = LEASE_MAX,
    ) -> None:
        if per_second > 0 and burst < 1:
            raise ValueError("the rate limit burst must be at least 1")
        self.pool = pool
        self.per_second = per_second
        self.burst = burst
        self.now = now
        self.monotonic = monotonic
        self.lease_max = max(1, lease_max)
        self.statements = 0
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take_leased(self, key: str) -> RateLimitDecision | None:
        """A token from this process's lease on `key`, without I/O; None when there is none."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.tokens < 1 or lease.until <= self.monotonic():
                return None
            lease.tokens -= 1
            return RateLimitDecision(True, self.burst, lease.shared + lease.tokens, self.per_second)

    def take(self, key: str) -> RateLimitDecision:
        """Take one token for `key`: from the lease, else from the shared bucket."""
        leased = self.take_leased(key)
        if leased is not None:
            return leased
        with self._lock:
            lease = self._leases.get(key)
            known = lease.shared if lease is not None else 0.0
        want = max(1, min(self.lease_max, int(known // LEASE_DIVISOR)))
        params = {
            "key": key,
            "burst": self.burst,
            "rate": self.per_second,
            "want": want,
            "now": self.now(),
        }
        with self.pool.connection() as conn:
            row = conn.execute(TAKE, params).fetchone()
        assert row is not None
        tokens, granted = float(row[0]), int(row[1])
        with self._lock:
            self.statements += 1
            if granted < 1:
                self._leases.pop(key, None)
                return RateLimitDecision(False, self.burst, tokens, self.per_second)
            now = self.monotonic()
            lease = self._leases.get(key)
            unspent = lease.tokens if lease is not None and lease.until > now else 0
            if len(self._leases) >= LEASED_KEYS_MAX:
                self._leases.clear()
            self._leases[key] = _Lease(unspent + granted - 1, tokens, now + LEASE_SECONDS)
        return RateLimitDecision(True, self.burst, tokens + unspent + granted - 1, self.per_second)


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
        key = str(principal.credential_id)
        decision = limiter.take_leased(key)  # no I/O: no thread hop
        if decision is None:
            decision = await to_thread.run_sync(limiter.take, key)
        if not decision.allowed:
            raise over_limit(decision)
        headers = encode_headers(decision.headers().items())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                set_headers(message, headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
