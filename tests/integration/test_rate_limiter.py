"""The PostgreSQL token bucket: refill arithmetic, and atomicity under concurrent takers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from api.rate_limit import LEASE_MAX, LEASE_SECONDS, RateLimiter
from syncline.database import open_pool
from syncline.runtime import Runtime

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class Steps:
    """A clock for SQL that moves only when told."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4()}"


def test_a_burst_then_refill_at_the_rate(runtime: Runtime, key: str) -> None:
    clock = Steps()
    limiter = RateLimiter(runtime.pool, per_second=2, burst=3, now=clock)
    decisions = [limiter.take(key) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    denied = decisions[-1]
    assert denied.retry_after_seconds == 1
    assert denied.headers()["Retry-After"] == "1"
    assert denied.headers()["RateLimit-Reset"] == "2"  # 3 tokens at 2/s
    assert "Retry-After" not in decisions[0].headers()

    clock.now += timedelta(seconds=0.5)  # one token back
    assert limiter.take(key).allowed
    assert not limiter.take(key).allowed
    clock.now += timedelta(hours=1)  # never beyond the burst
    assert [limiter.take(key).allowed for _ in range(4)] == [True, True, True, False]


def test_a_denied_request_does_not_dig_the_bucket_deeper(runtime: Runtime, key: str) -> None:
    clock = Steps()
    limiter = RateLimiter(runtime.pool, per_second=1, burst=1, now=clock)
    assert limiter.take(key).allowed
    for _ in range(20):
        assert not limiter.take(key).allowed
    clock.now += timedelta(seconds=1)
    assert limiter.take(key).allowed


def test_a_clock_going_backwards_refills_nothing(runtime: Runtime, key: str) -> None:
    clock = Steps()
    limiter = RateLimiter(runtime.pool, per_second=1, burst=1, now=clock)
    assert limiter.take(key).allowed
    clock.now -= timedelta(minutes=5)
    assert not limiter.take(key).allowed


@pytest.fixture
def pools(runtime: Runtime) -> Iterator[list[ConnectionPool]]:
    """Two pools, as two API processes would have."""
    opened = [open_pool(runtime.database_url, max_size=4) for _ in range(2)]
    yield opened
    for pool in opened:
        pool.close()


def concurrent_takes(limiters: list[RateLimiter], key: str, threads: int, each: int) -> int:
    """How many of `threads` * `each` takes, spread over `limiters`, were let through."""
    allowed = [0] * threads
    start = threading.Barrier(threads)

    def take(i: int) -> None:
        start.wait()
        for _ in range(each):
            allowed[i] += limiters[i % len(limiters)].take(key).allowed

    workers = [threading.Thread(target=take, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(allowed)


def test_concurrent_takers_in_two_processes_get_exactly_the_burst(
    pools: list[ConnectionPool], key: str
) -> None:
    # The real database clock, a rate so low that nothing refills during the test, and no
    # leases: one statement per take, so the count is exact.
    limiters = [RateLimiter(pool, per_second=0.0001, burst=25, lease_max=1) for pool in pools]
    assert concurrent_takes(limiters, key, threads=8, each=10) == 25


def test_leases_never_let_more_than_the_burst_through(
    pools: list[ConnectionPool], key: str
) -> None:
    limiters = [RateLimiter(pool, per_second=0.0001, burst=300) for pool in pools]
    allowed = concurrent_takes(limiters, key, threads=8, each=60)
    assert allowed <= 300
    # Tokens leased but unspent when the takers stopped are lost, at most a lease per limiter.
    assert allowed >= 300 - 2 * LEASE_MAX


def test_leases_spare_statements_while_the_bucket_is_full_and_stop_near_empty(
    runtime: Runtime, key: str
) -> None:
    clock = Steps()
    ticks = [0.0]
    limiter = RateLimiter(
        runtime.pool, per_second=0.0001, burst=400, now=clock, monotonic=lambda: ticks[0]
    )
    decisions = [limiter.take(key) for _ in range(200)]
    assert all(d.allowed for d in decisions)
    assert limiter.statements <= 200 // LEASE_MAX + 10
    remaining = [d.remaining for d in decisions]
    assert remaining == sorted(remaining, reverse=True)  # never goes up without a refill
    assert remaining[-1] == 200

    # Near the limit every take is a statement of its own: exactly the burst gets through.
    more = [limiter.take(key) for _ in range(250)]
    assert sum(d.allowed for d in more) == 200
    assert not more[-1].allowed
    before = limiter.statements
    assert not limiter.take(key).allowed
    assert limiter.statements == before + 1


def test_unspent_leased_tokens_lapse(runtime: Runtime, key: str) -> None:
    ticks = [0.0]
    limiter = RateLimiter(
        runtime.pool, per_second=0.0001, burst=400, now=Steps(), monotonic=lambda: ticks[0]
    )
    limiter.take(key)  # learns the level: no lease yet
    limiter.take(key)  # leases LEASE_MAX tokens, spends one
    assert limiter.take_leased(key) is not None
    ticks[0] += LEASE_SECONDS
    assert limiter.take_leased(key) is None
    statements = limiter.statements
    assert limiter.take(key).allowed
    assert limiter.statements == statements + 1


def test_zero_rate_turns_limiting_off(runtime: Runtime) -> None:
    assert not RateLimiter(runtime.pool, per_second=0, burst=0).enabled
    with pytest.raises(ValueError):
        RateLimiter(runtime.pool, per_second=1, burst=0)
