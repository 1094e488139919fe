"""Fair delivery over real HTTP: a hanging endpoint keeps to its share of the senders, another
tenant's deliveries arrive on time meanwhile, per-record order holds on a slow endpoint, and
an endpoint that keeps failing is held by its circuit breaker (without attempts) until a
half-open probe finds it well again."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from delivery.queue import BreakerPolicy
from delivery.retry import RetrySchedule
from delivery.slots import AHEAD
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    Workers,
    contact,
    deliveries,
    pending,
    store_contacts,
    subscribe,
)

TIMEOUT = 1.5  # the workers' request timeout in these tests
NEVER_OPENS = BreakerPolicy(failures=1_000_000)


@pytest.fixture
def other_hooks_tenant(
    other_tenant: TenantClient, caught_up: Callable[[], None]
) -> Iterator[TenantClient]:
    """`other_tenant`, whose webhooks are deleted after the test (as `hooks_tenant`'s are)."""
    yield other_tenant
    caught_up()
    for hook in other_tenant.get("/v1/webhooks", params={"limit": 1000}).json().get("data", []):
        other_tenant.delete(f"/v1/webhooks/{hook['id']}")


def attempt_starts(runtime: Runtime, hook_id: str) -> list[float]:
    """When each recorded attempt to the webhook started (the worker's clock), in order,
    as epoch seconds."""
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM attempted_at)::float8 FROM webhook_attempts"
            " WHERE subscription_id = %s ORDER BY attempted_at",
            (hook_id,),
        ).fetchall()
    return [row[0] for row in rows]


def circuit(tenant: TenantClient, hook_id: str) -> dict[str, Any]:
    response = tenant.get(f"/v1/webhooks/{hook_id}/health")
    assert response.status_code == 200, response.text
    health: dict[str, Any] = response.json()
    return health


def test_a_hanging_endpoint_does_not_delay_another_tenants_deliveries(
    hooks_tenant: TenantClient,
    other_hooks_tenant: TenantClient,
    runtime: Runtime,
    workers: Workers,
    caught_up: Callable[[], None],
) -> None:
    released = threading.Event()

    def hang(_: Any) -> int:
        released.wait(2 * TIMEOUT)  # past the worker's timeout: it gives up first
        return 200

    with Receiver(hang) as hanging, Receiver() as healthy:
        x_hook = subscribe(hooks_tenant, hanging.url, ["contact.created"])
        subscribe(other_hooks_tenant, healthy.url, ["contact.created"])
        store_contacts(runtime, hooks_tenant.id, 220)
        caught_up()
        assert pending(runtime, x_hook["id"]) == 220
        # The breaker never opens here: the in-flight limit and the fair claim alone keep
        # tenant X to its share while it hangs.
        worker = workers.start(timeout=TIMEOUT, breaker=NEVER_OPENS)
        limit = worker.endpoint_concurrency
        assert 1 <= limit < worker.concurrency
        assert hanging.wait_for(lambda r: r.in_flight >= limit, timeout=10)

        delays = []
        for i in range(10):
            created = contact(other_hooks_tenant, f"y{i}@example.com")
            answered = time.time()

            def arrived(r: Receiver, entity: str = created["id"]) -> bool:
                return any(e["entity"]["id"] == entity for e in r.events())

            assert healthy.wait_for(arrived, timeout=10), f"event {i} never arrived"
            [receipt] = [r for r in healthy.received if r.event["entity"]["id"] == created["id"]]
            delays.append(receipt.at - answered)
            # X is still hanging, holding requests open, while Y's events go through.
            assert hanging.in_flight >= 1
            time.sleep(0.1)
        # Each hanging request ended at the timeout and freed its sender for X's next one:
        # X's requests go out in waves of its limit, one timeout apart. Timed by the
        # worker's own clock (each attempt's start): the receiver, sharing the machine,
        # can take a request in a few hundred milliseconds after it was sent.
        assert wait_until(lambda: len(attempt_starts(runtime, x_hook["id"])) >= 2 * limit, 10)
        starts = attempt_starts(runtime, x_hook["id"])
        first, second = starts[0], starts[limit]
        assert TIMEOUT - 0.01 <= second - first < TIMEOUT + 1.0, second - first
        assert pending(runtime, x_hook["id"]) > 150  # far from drained
        released.set()

    assert max(delays) < 1.0, delays


def test_a_hanging_endpoints_requests_do_not_hold_the_other_endpoints_senders(
    hooks_tenant: TenantClient,
    other_hooks_tenant: TenantClient,
    runtime: Runtime,
    workers: Workers,
    caught_up: Callable[[], None],
) -> None:
    """Its requests take its in-flight limit (a quarter of the senders) until they time
    out; once slow, each sender is replaced, so the other endpoints get every sender."""
    released = threading.Event()

    def hang(_: Any) -> int:
        released.wait(20)  # past the drain of the others, and until the test ends
        return 200

    def slowish(_: Any) -> int:
        time.sleep(0.3)
        return 200

    with Receiver(hang) as hanging, Receiver(slowish) as healthy:
        subscribe(hooks_tenant, hanging.url, ["contact.created"])
        for n in range(4):  # four endpoints, each limited to one request at a time
            subscribe(other_hooks_tenant, f"{healthy.url}/{n}", ["contact.created"])
        store_contacts(runtime, hooks_tenant.id, 20)
        caught_up()
        worker = workers.start(timeout=10, breaker=NEVER_OPENS, concurrency=4, slow_after=0.2)
        assert worker.endpoint_concurrency == 1
        assert hanging.wait_for(lambda r: r.in_flight >= 1, timeout=10)
        store_contacts(runtime, other_hooks_tenant.id, 12)
        assert healthy.wait_count(48, timeout=10)
        assert hanging.arrivals  # it was sent requests all along, and answered none
        assert hanging.in_flight >= 1
        released.set()
    # All four senders on the healthy endpoints at once (three without replacing).
    assert healthy.peak_in_flight == 4


def test_a_slow_endpoint_gets_at_most_its_limit_in_order_per_record(
    hooks_tenant: TenantClient, runtime: Runtime, workers: Workers, caught_up: Callable[[], None]
) -> None:
    def slow(_: Any) -> int:
        time.sleep(0.1)
        return 200

    with Receiver(slow) as receiver:
        hook = subscribe(hooks_tenant, receiver.url, ["contact.created", "contact.updated"])
        store_contacts(runtime, hooks_tenant.id, 12, updates=3)
        caught_up()
        workers.start(endpoint_concurrency=3)
        assert receiver.wait_count(48, timeout=40)
        assert wait_until(lambda: pending(runtime, hook["id"]) == 0)

    # Records were sent side by side, never more than three at once.
    assert receiver.peak_in_flight == 3
    versions: dict[str, list[int]] = defaultdict(list)
    for event in receiver.events():
        versions[event["entity"]["id"]].append(event["entity"]["version"])
    assert len(versions) == 12
    assert all(v == [1, 2, 3, 4] for v in versions.values()), versions


def held_endpoints(http: httpx.Client) -> float:
    """`/metrics`: endpoints whose circuit is open."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith('syncline_webhook_endpoints_held{circuit="open"}'):
            return float(line.split()[-1])
    raise AssertionError("no syncline_webhook_endpoints_held gauge")


def test_the_breaker_holds_a_failing_endpoint_without_attempts_then_probes_and_closes(
    hooks_tenant: TenantClient,
    runtime: Runtime,
    workers: Workers,
    caught_up: Callable[[], None],
    http: httpx.Client,
) -> None:
    failing = threading.Event()
    failing.set()
    arrivals: list[float] = []  # wall-clock times, as the worker's breaker times are

    def respond(_: Any) -> int:
        arrivals.append(time.time())
        return 503 if failing.is_set() else 200

    def health() -> dict[str, Any]:
        return circuit(hooks_tenant, hook["id"])

    def at(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    with Receiver(respond) as receiver:
        hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
        assert health()["circuit"] == "closed"
        store_contacts(runtime, hooks_tenant.id, 20)
        caught_up()
        hold = 2.0
        worker = workers.start(
            timeout=TIMEOUT,
            endpoint_concurrency=1,  # one request at a time
            breaker=BreakerPolicy(failures=3, hold=hold, max_hold=60.0),
            schedule=RetrySchedule(delays=(0,) + (0.05,) * 20, jitter=0),
        )
        assert wait_until(lambda: health()["circuit"] == "open")
        opened = health()
        assert opened["opened_times"] == 1
        opened_at, held_until = at(opened["opened_at"]), at(opened["held_until"])
        assert held_until - opened_at == pytest.approx(hold)
        assert held_endpoints(http) >= 1

        # Barrier: the half-open probe, after the hold. During the hold nothing was sent
        # (beyond a request already on its way when the circuit opened).
        assert receiver.wait_for(lambda _: any(t >= held_until for t in arrivals), timeout=10)
        assert [t for t in arrivals if opened_at + 0.2 < t < held_until] == []
        before = [t for t in arrivals if t < held_until]
        # Three failures opened it; the requests claimed ahead of that settle went too (at
        # most the worker's allowance for the endpoint, AHEAD times its limit).
        assert 3 <= len(before) <= 3 + AHEAD * worker.endpoint_concurrency
        # The probe failed: open again, for twice as long.
        assert wait_until(lambda: health()["opened_times"] == 2)
        reopened = health()
        assert reopened["circuit"] == "open"
        assert at(reopened["held_until"]) - at(reopened["opened_at"]) == pytest.approx(2 * hold)
        # Nothing held was counted as an attempt: every attempt recorded is a request.
        recorded = sum(d["attempt_count"] for d in deliveries(hooks_tenant, hook["id"]))
        assert recorded == len(arrivals) == len(before) + 1

        failing.clear()  # the endpoint recovers: the next probe succeeds and closes it
        assert wait_until(lambda: pending(runtime, hook["id"]) == 0, timeout=30)
        second_probe = arrivals[len(before) + 1]
        assert second_probe >= at(reopened["held_until"])
        closed = health()
        assert closed["circuit"] == "closed"
        assert closed["held_until"] is None
        assert closed["opened_times"] == 0

    statuses = [d["status"] for d in deliveries(hooks_tenant, hook["id"])]
    assert statuses == ["delivered"] * 20


def test_endpoint_health_is_the_owners_only(
    hooks_tenant: TenantClient, other_tenant: TenantClient, receiver: Receiver
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    health = circuit(hooks_tenant, hook["id"])
    assert health["webhook_id"] == hook["id"]
    assert health["circuit"] == "closed"
    assert health["pending"] == 0
    response = other_tenant.get(f"/v1/webhooks/{hook['id']}/health")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
