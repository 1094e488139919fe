"""Webhook delivery: deliveries/s draining a backlog vs bare aiohttp POSTs to the same receiver,
and end-to-end latency (API 201 → receipt) at 100 events/s.

The drain is one `syncline worker` process whose one endpoint may use every sender
(`SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY=CONCURRENCY`), so it measures the pipeline at
CONCURRENCY in flight; the latency run uses the default limits."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import subprocess
import sys
import time
from typing import Any
from uuid import uuid4

import aiohttp
import httpx
import psycopg

from bench.harness import ROOT, BenchEnv, Figure, cpu_seconds_of, free_port
from delivery.event_loop import event_loop_factory
from delivery.headers import delivery_headers as worker_headers
from domain.contact import Contact
from domain.context import Actor, Context
from syncline.config import Settings
from syncline.garbage_collection import CATCH_UP_YOUNG_THRESHOLD, settle_heap
from syncline.runtime import Runtime

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
BACKLOG = int(os.environ.get("BENCH_WEBHOOK_BACKLOG", "10000"))
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_CONCURRENCY", "32"))
RATE = 100.0  # events/s for the latency figure


def start_receiver(env: BenchEnv) -> str:
    return start_receiver_process(env)[0]


def start_receiver_process(env: BenchEnv) -> tuple[str, subprocess.Popen[bytes]]:
    """A receiver (`bench.receiver`): its URL once it answers, and its process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)], cwd=ROOT)
    env.processes.append(process)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/stats", timeout=1)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the receiver did not start")


# One client for the polls: `httpx.get` builds a TLS context each call (~25 ms of CPU, GIL
# held), which, five times a second, took CPU from the worker being measured.
_stats_client = httpx.Client(timeout=30)


def receiver_stats(url: str, *, arrivals: bool = False) -> dict[str, Any]:
    query = "?arrivals" if arrivals else ""
    stats: dict[str, Any] = _stats_client.get(f"{url}/stats{query}").json()
    return stats


def delivery_headers(body: bytes) -> dict[str, str]:
    """The headers a delivery of `body` carries (signed once: the bare client sends them as
    they are, so it pays for none of the worker's signing)."""
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    return worker_headers(
        secrets=[secret],
        event_id=f"evt_{uuid4().hex}",
        event_type="contact.created",
        correlation_id=uuid4().hex,
        timestamp=int(time.time()),
        body=body,
    )


async def _raw_posts(url: str, body: bytes, concurrency: int) -> tuple[float, float]:
    """POSTs/s of a bare aiohttp client (one session, keep-alive) at `concurrency`, sending
    the worker's headers and body, and its CPU seconds per POST."""
    deadline = time.monotonic() + DURATION
    done = 0
    headers = delivery_headers(body)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.post(f"{url}/raw", data=body, headers=headers) as response:
                await response.read()
            done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=10.0),
    ) as session:
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return done / (time.monotonic() - started), (time.process_time() - cpu) / done


def bare_posts(url: str, body: bytes) -> tuple[float, float]:
    """`_raw_posts` at CONCURRENCY on the event loop `syncline worker` runs (uvloop when
    installed) and under its garbage collector settings (`settle_heap` with the worker's
    young threshold; the thresholds are put back after), so the bare client and the worker
    differ only in what the worker does."""
    thresholds = gc.get_threshold()
    settle_heap(CATCH_UP_YOUNG_THRESHOLD)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(_raw_posts(url, body, CONCURRENCY))
    finally:
        gc.set_threshold(*thresholds)


def sample_body(database_url: str) -> bytes:
    """The body of the latest delivery: what the bare client sends, so that it and the
    worker send the receiver the same POSTs (an envelope the receiver parses)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT body FROM webhook_deliveries ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None, "no deliveries"
    return bytes(row[0])


def backlog_rate(env: BenchEnv, receiver: str) -> tuple[float, float, float]:
    """Enqueue a backlog with no sender running, then time one `syncline worker` process
    (as users run it, and as the webhook_fairness scenario does) draining it.

    Answers (events enqueued/s by the subscriber, deliveries/s, the worker's CPU seconds
    per delivery). The worker's start (imports, connecting) is not timed: the rate runs from
    the first delivery's arrival to the last's, and the CPU from when the first arrived."""
    settings = Settings(
        database_url=env.database_url, allow_private_webhooks=True, log_level="WARNING"
    )
    runtime = Runtime.open(settings, role="worker")  # enqueues as a worker's subscriber does
    try:
        operator = Context(uuid4(), Actor("operator", "bench"), "bench")
        tenant, *_ = runtime.app.provision_tenant(operator, "Webhooks", ["webhooks:manage"])
        ctx = Context(tenant.id, Actor("api_key", "bench"), "bench")
        runtime.app.create_webhook(
            ctx,
            url=f"{receiver}/backlog",
            event_types=["contact.created"],
            description=None,
            seal=runtime.secret_box.seal,
        )
        for start in range(0, BACKLOG, 500):
            contacts = [
                Contact.create(ctx, {"email": f"b{i}@example.com", "name": f"B {i}"}, id=uuid4())
                for i in range(start, min(start + 500, BACKLOG))
            ]
            runtime.app.save(*contacts)
        started = time.monotonic()
        runtime.start_projections()  # the subscriber enqueues; nothing sends here
        assert runtime.wait_for_projections(timeout=600), "projections did not catch up"
        enqueue_rate = BACKLOG / (time.monotonic() - started)
        with runtime.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM webhook_pending").fetchone()
        assert row is not None, "no deliveries"
        assert row[0] >= BACKLOG, row
    finally:
        runtime.close()
    # One endpoint may use every sender here: the figure is the pipeline's rate at
    # CONCURRENCY in flight (by default one endpoint gets a quarter of the senders; the
    # webhook_fairness scenario measures many endpoints under the default limits).
    worker = env.spawn(
        "worker",
        SYNCLINE_WEBHOOK_CONCURRENCY=str(CONCURRENCY),
        SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY=str(CONCURRENCY),
    )
    deadline = time.monotonic() + 600
    while (arrived_before_cpu := receiver_stats(receiver)["count"]) == 0:
        assert time.monotonic() < deadline, "the worker sent nothing"
        time.sleep(0.01)
    cpu = cpu_seconds_of([worker])
    while receiver_stats(receiver)["count"] < BACKLOG:
        assert time.monotonic() < deadline, "the backlog did not drain"
        time.sleep(0.2)
    cpu = cpu_seconds_of([worker]) - cpu
    stats = receiver_stats(receiver)
    env.stop(worker)
    rate = (stats["count"] - 1) / max(stats["last"] - stats["first"], 1e-9)
    return enqueue_rate, rate, cpu / max(stats["count"] - arrived_before_cpu, 1)


async def paced_creates(
    api: str, key: str, seconds: float, *, rate: float = RATE, prefix: str = "lat"
) -> dict[str, float]:
    """Create contacts at `rate`/s; answer {contact id: wall time its 201 arrived}."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answered: dict[str, float] = {}

    async def create(session: aiohttp.ClientSession, i: int) -> None:
        body = f'{{"email": "{prefix}{i}@example.com"}}'
        async with session.post(f"{api}/v1/contacts", data=body, headers=headers) as response:
            payload = await response.json()
            answered[payload["id"]] = time.time()

    async with aiohttp.ClientSession() as session:
        tasks = []
        started = time.monotonic()
        for i in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(create(session, i)))
        await asyncio.gather(*tasks)
    return answered


def latency(env: BenchEnv, receiver: str) -> list[float]:
    api = env.start_api()
    env.spawn("worker")
    key = env.provision(api, "Latency")
    response = httpx.post(
        f"{api}/v1/webhooks",
        json={"url": f"{receiver}/latency", "event_types": ["contact.created"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    response.raise_for_status()
    # Measure the running pipeline, not the worker process starting: wait until a test ping
    # has gone all the way through (it also opens the keep-alive connection).
    before = receiver_stats(receiver)["count"]
    ping = httpx.post(
        f"{api}/v1/webhooks/{response.json()['id']}/test",
        headers={"Authorization": f"Bearer {key}"},
    )
    ping.raise_for_status()
    deadline = time.monotonic() + 60
    while receiver_stats(receiver)["count"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    answered = asyncio.run(paced_creates(api, key, DURATION))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        arrivals = receiver_stats(receiver, arrivals=True)["arrivals"]
        if all(i in arrivals for i in answered):
            break
        time.sleep(0.5)
    return sorted(arrivals[i] - t for i, t in answered.items() if i in arrivals)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))]


def run(env: BenchEnv) -> list[Figure]:
    receiver = start_receiver(env)
    enqueue_rate, delivery_rate, delivery_cpu = backlog_rate(env, receiver)
    raw, raw_cpu = bare_posts(receiver, sample_body(env.database_url))
    delays = latency(env, receiver)
    return [
        Figure(
            f"subscriber enqueue of a {BACKLOG:,}-event backlog",
            enqueue_rate,
            "/s",
        ),
        Figure(
            f"webhook deliveries/s draining {BACKLOG:,} (1 worker, {CONCURRENCY} in flight)",
            delivery_rate,
            "/s",
            f"bare aiohttp POSTs/s ({CONCURRENCY} in flight)",
            raw,
            target=">= 0.5",
        ),
        # On a shared machine the rates swing with the load; CPU per request much less.
        Figure(
            "bare client CPU per POST / worker CPU per delivery",
            raw_cpu * 1e6,
            "µs",
            "worker CPU per delivery",
            delivery_cpu * 1e6,
        ),
        Figure(
            "webhook latency p50, API 201 → receipt (100/s)", percentile(delays, 0.5) * 1000, "ms"
        ),
        Figure(
            "webhook latency p99, API 201 → receipt (100/s)",
            percentile(delays, 0.99) * 1000,
            "ms",
            target="< 150 ms",
        ),
    ]
