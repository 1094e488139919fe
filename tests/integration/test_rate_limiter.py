"""The PostgreSQL token bucket: refill arithmetic, and atomicity under concurrent takers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from api.rate_limit import RateLimiter
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


def test_concurrent_takers_in_two_processes_never_exceed_the_burst(
    pools: list[ConnectionPool], key: str
) -> None:
    # The real database clock, and a rate so low that nothing refills during the test.
    limiters = [RateLimiter(pool, per_second=0.0001, burst=25) for pool in pools]
    allowed = [0] * 8
    start = threading.Barrier(8)

    def take(i: int) -> None:
        start.wait()
        for _ in range(10):
            allowed[i] += limiters[i % 2].take(key).allowed

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 25


def test_zero_rate_turns_limiting_off(runtime: Runtime) -> None:
    assert not RateLimiter(runtime.pool, per_second=0, burst=0).enabled
    with pytest.raises(ValueError):
        RateLimiter(runtime.pool, per_second=1, burst=0)
