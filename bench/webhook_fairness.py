"""Fair webhook delivery: one tenant's endpoint hangs until the timeout with 1,000 deliveries
queued. First another tenant writes 10 events/s: its latency from the API's 201 to receipt
(p50, p99). Then, the hanging backlog still there, healthy endpoints drain a backlog: their
deliveries/s against the bare aiohttp client's POSTs/s at the same concurrency (the webhooks
scenario's raw limit, measured here in the same run), and where the CPU of a healthy
delivery goes (the worker, the receiver, PostgreSQL) against the CPU of a bare POST (the
client, the receiver). Last, the cost of one claim with 1,000,000 queued rows against a
trivial round trip.

`python -m bench webhook_fairness` runs it alone.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import psycopg

from bench.harness import BenchEnv, Figure, cpu_seconds_of
from bench.webhooks import (
    CONCURRENCY,
    bare_posts,
    paced_creates,
    receiver_stats,
    sample_body,
    start_receiver,
    start_receiver_process,
)
from delivery.event_loop import event_loop_factory
from delivery.queue import DeliveryQueue
from delivery.slots import default_endpoint_concurrency
from domain.contact import Contact
from domain.context import Actor, Context
from syncline.config import Settings
from syncline.runtime import Runtime

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
HANGING = 1_000  # deliveries queued for the hanging endpoint
HEALTHY_ENDPOINTS = 8
HEALTHY_BACKLOG = int(os.environ.get("BENCH_FAIR_BACKLOG", "30000"))
RATE = 10.0  # events/s of the tenant whose latency is measured
TIMEOUT = "10"  # the worker's request timeout (the default), seconds
CLAIM_ROWS = 1_000_000
CLAIM_ENDPOINTS = 1_000


def enqueue(env: BenchEnv, targets: list[tuple[str, int]]) -> None:
    """With no worker running: per (url, n), a tenant with a webhook to that URL and n
    deliveries queued for it."""
    settings = Settings(
        database_url=env.database_url, allow_private_webhooks=True, log_level="WARNING"
    )
    runtime = Runtime.open(settings)
    try:
        operator = Context(uuid4(), Actor("operator", "bench"), "bench")
        for url, count in targets:
            tenant, *_ = runtime.app.provision_tenant(operator, "Fair", ["webhooks:manage"])
            ctx = Context(tenant.id, Actor("api_key", "bench"), "bench")
            runtime.app.create_webhook(
                ctx,
                url=url,
                event_types=["contact.created"],
                description=None,
                seal=runtime.secret_box.seal,
            )
            for start in range(0, count, 500):
                contacts = [
                    Contact.create(ctx, {"email": f"f{i}@example.com"}, id=uuid4())
                    for i in range(start, min(start + 500, count))
                ]
                runtime.app.save(*contacts)
        runtime.start_projections()
        assert runtime.wait_for_projections(timeout=600), "projections did not catch up"
    finally:
        runtime.close()


def neighbour(env: BenchEnv, receiver: str, latency_receiver: str) -> list[float]:
    """Start the API and a worker on the hanging endpoint's backlog; the measured tenant
    writes RATE events/s for DURATION while it hangs. Answers that tenant's latencies."""
    api = env.start_api()
    key = env.provision(api, "Neighbour")
    response = httpx.post(
        f"{api}/v1/webhooks",
        json={"url": f"{latency_receiver}/latency", "event_types": ["contact.created"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    response.raise_for_status()
    worker = env.spawn("worker", SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=TIMEOUT)
    # The hanging endpoint holds its share of the senders before the measurement starts.
    deadline = time.monotonic() + 60
    while receiver_stats(receiver)["hanging"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    answered = asyncio.run(paced_creates(api, key, DURATION, rate=RATE, prefix="y"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        arrivals = receiver_stats(latency_receiver, arrivals=True)["arrivals"]
        if all(i in arrivals for i in answered):
            break
        time.sleep(0.2)
    assert receiver_stats(receiver)["count"] == 0, "the hanging endpoint answered"
    env.stop(worker)
    return sorted(arrivals[i] - t for i, t in answered.items() if i in arrivals)


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds per request of each process taking part, over the same requests."""

    sender: float  # the worker, or the bare client
    receiver: float
    postgres: float = 0.0

    @property
    def total(self) -> float:
        return self.sender + self.receiver + self.postgres


def drain(
    env: BenchEnv, receiver: str, receiver_process: subprocess.Popen[bytes]
) -> tuple[float, CpuSplit]:
    """Queue HEALTHY_BACKLOG deliveries to HEALTHY_ENDPOINTS healthy endpoints (the hanging
    one still has its backlog), start a worker, and answer the healthy deliveries/s and the
    CPU per delivery of the worker, the receiver and PostgreSQL, from the first tenth of
    the backlog received to nine tenths (the worker's start and the last endpoints' tails
    left out)."""
    share = HEALTHY_BACKLOG // HEALTHY_ENDPOINTS
    total = share * HEALTHY_ENDPOINTS
    enqueue(env, [(f"{receiver}/healthy-{i}", share) for i in range(HEALTHY_ENDPOINTS)])
    worker = env.spawn("worker", SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=TIMEOUT)

    def cpu() -> tuple[float, float, float, int]:
        used = (
            cpu_seconds_of([worker]),
            cpu_seconds_of([receiver_process]),
            env.postgres_cpu_seconds(),
        )
        return (*used, receiver_stats(receiver)["count"])

    deadline = time.monotonic() + 600
    before = after = None
    while (received := receiver_stats(receiver)["count"]) < total:
        assert time.monotonic() < deadline, "the healthy backlog did not drain"
        if before is None and received >= total // 10:
            before = cpu()
        elif before is not None and after is None and received >= total * 9 // 10:
            after = cpu()
        time.sleep(0.05 if before is None else 0.2)
    after = after or cpu()  # nine tenths and the rest arrived between two polls
    env.stop(worker)
    stats = receiver_stats(receiver)
    assert before is not None, "the drain was too fast to measure"
    count = max(after[3] - before[3], 1)
    split = CpuSplit(*((a - b) / count for a, b in zip(after[:3], before[:3], strict=True)))
    return float((stats["count"] - 1) / max(stats["last"] - stats["first"], 1e-9)), split


def bare_split(body: bytes, env: BenchEnv) -> tuple[float, CpuSplit]:
    """`bare_posts` to a fresh receiver: POSTs/s and the CPU per POST of the client and of
    the receiver."""
    url, process = start_receiver_process(env)
    received, used = receiver_stats(url)["count"], cpu_seconds_of([process])
    rate, client = bare_posts(url, body)
    count = max(receiver_stats(url)["count"] - received, 1)
    return rate, CpuSplit(client, (cpu_seconds_of([process]) - used) / count)


async def _claim_cost(database_url: str) -> tuple[float, float]:
    """Median seconds of one claim of 64 with CLAIM_ROWS queued rows over CLAIM_ENDPOINTS
    endpoints (the backlog stays: each claim's lease ends at once), and of a `SELECT 1`."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE webhook_queues, webhook_pending, webhook_endpoint_state")
        per = CLAIM_ROWS // CLAIM_ENDPOINTS
        conn.execute(
            "INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)"
            " SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i / %(per)s), 12, '0'))::uuid,"
            " gen_random_uuid(), now() - interval '1 hour' FROM generate_series(0, %(n)s - 1) i",
            {"per": per, "n": CLAIM_ROWS},
        )
        conn.execute("VACUUM ANALYZE webhook_queues")
    queue = await DeliveryQueue.connect(database_url)
    try:
        claims, trivial = [], []
        per_endpoint = default_endpoint_concurrency(CONCURRENCY)
        for _ in range(60):
            now = datetime.now(UTC)
            started = time.perf_counter()
            # Leased until now: claimable again by the next round, as if settled.
            await queue.claim(now=now, lease_until=now, limit=64, per_endpoint=per_endpoint)
            claims.append(time.perf_counter() - started)
            started = time.perf_counter()
            await queue.conn.execute("SELECT 1")
            trivial.append(time.perf_counter() - started)
        claims.sort()
        trivial.sort()
        return claims[len(claims) // 2], trivial[len(trivial) // 2]
    finally:
        await queue.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE webhook_queues, webhook_pending")


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))]


def run(env: BenchEnv) -> list[Figure]:
    healthy, healthy_process = start_receiver_process(env)
    latency_receiver = start_receiver(env)
    enqueue(env, [(f"{healthy}/hang", HANGING)])
    delays = neighbour(env, healthy, latency_receiver)
    rate, used = drain(env, healthy, healthy_process)
    body = sample_body(env.database_url)
    env.stop_all()
    # The bare client as the worker runs (`bare_posts`), to a fresh receiver, with a
    # delivery's body.
    raw, bare = bare_split(body, env)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        claim, trivial = runner.run(_claim_cost(env.database_url))
    label = f"1 endpoint hanging ({HANGING:,} queued)"
    return [
        Figure(
            f"neighbour latency p50, 201 → receipt ({RATE:g}/s), {label}",
            percentile(delays, 0.5) * 1000,
            "ms",
        ),
        Figure(
            f"neighbour latency p99, 201 → receipt ({RATE:g}/s), {label}",
            percentile(delays, 0.99) * 1000,
            "ms",
            target="< 250 ms",
        ),
        Figure(
            f"healthy deliveries/s, {HEALTHY_ENDPOINTS} endpoints, {label}",
            rate,
            "/s",
            f"bare aiohttp POSTs/s ({CONCURRENCY} in flight)",
            raw,
            target=">= 0.5",
        ),
        # Where the CPU of the drain goes, against a bare POST's. On a machine whose cores
        # the drain keeps busy, the rate's ratio above is about the inverse of the last one.
        Figure(
            "drain CPU per healthy delivery: the worker",
            used.sender * 1e6,
            "µs",
            "the bare client's per POST",
            bare.sender * 1e6,
        ),
        Figure(
            "drain CPU per healthy delivery: the receiver",
            used.receiver * 1e6,
            "µs",
            "the receiver's per bare POST",
            bare.receiver * 1e6,
        ),
        Figure("drain CPU per healthy delivery: PostgreSQL", used.postgres * 1e6, "µs"),
        Figure(
            "drain CPU per healthy delivery, all of it",
            used.total * 1e6,
            "µs",
            "a bare POST's (client and receiver)",
            bare.total * 1e6,
        ),
        Figure(
            f"claim of 64 with {CLAIM_ROWS:,} queued ({CLAIM_ENDPOINTS:,} endpoints)",
            claim * 1000,
            "ms",
            "SELECT 1 round trip",
            trivial * 1000,
        ),
    ]
