"""Long-poll wake-up: commit → /v1/changes?wait= response, vs a bare NOTIFY round trip."""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any
from uuid import uuid4

import httpx
import psycopg

from bench.backlog import log_head, open_runtime
from bench.harness import BenchEnv, Figure, provision
from domain.contact import Contact
from domain.context import Actor, Context

WRITES = int(os.environ.get("BENCH_WRITES", "200"))
SETTLE = 0.05  # time for the long-poll to reach its wait before the write commits


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_notify_latencies(env: BenchEnv) -> list[float]:
    """A pg_notify statement (autocommit) → the listening session receives it, in seconds."""
    latencies = []
    with (
        psycopg.connect(env.database_url, autocommit=True) as listener,
        psycopg.connect(env.database_url, autocommit=True) as sender,
    ):
        listener.execute("LISTEN bench_raw")
        for i in range(WRITES):
            committed = time.perf_counter()
            sender.execute("SELECT pg_notify('bench_raw', %s)", (str(i),))
            for _ in listener.notifies(timeout=5, stop_after=1):
                latencies.append(time.perf_counter() - committed)
    return latencies


def wait_for_worker(runtime: Any) -> None:
    """Until every projection is at the head: earlier scenarios may have left a backlog,
    and a worker still catching up would be measured instead of the wake-up path."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with runtime.pool.connection() as conn:
            row = conn.execute("SELECT min(position) FROM projection_tracking").fetchone()
        if row and row[0] is not None and row[0] >= log_head(runtime):
            return
        time.sleep(0.1)
    raise RuntimeError("the worker did not catch up")


def long_poll_latencies(env: BenchEnv) -> list[float]:
    url = env.start_api()
    env.spawn("worker")
    tenant_id, key = provision(url)
    runtime = open_runtime(env)
    ctx = Context(tenant_id, Actor("system", "bench"), "bench")
    latencies = []
    try:
        wait_for_worker(runtime)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            cursor = client.get("/v1/changes/head").json()["cursor"]
            for i in range(WRITES):
                answer: dict[str, Any] = {}

                def poll(after: str = cursor, into: dict[str, Any] = answer) -> None:
                    page = client.get("/v1/changes", params={"cursor": after, "wait": 10})
                    into["at"] = time.perf_counter()
                    into["page"] = page.json()

                poller = threading.Thread(target=poll)
                poller.start()
                time.sleep(SETTLE)
                contact = Contact.create(ctx, {"email": f"w{i}@example.com"}, id=uuid4())
                # Timed from before the write's transaction (so it includes the commit):
                # after save() returns would flatter us by eventsourcing's post-commit work.
                committed = time.perf_counter()
                runtime.app.save(contact)
                poller.join(timeout=15)
                if not answer.get("page", {}).get("data"):
                    raise RuntimeError(f"write {i} did not reach the long-poll: {answer}")
                latencies.append(max(0.0, answer["at"] - committed))
                cursor = answer["page"]["next_cursor"]
    finally:
        runtime.close()
    return latencies


def run(env: BenchEnv) -> list[Figure]:
    raw = raw_notify_latencies(env)
    polls = long_poll_latencies(env)
    us = 1_000_000.0  # microseconds: a bare NOTIFY takes well under a millisecond
    return [
        Figure(
            f"long-poll wake-up p50 ({len(polls)} writes)",
            percentile(polls, 0.5) * us,
            "us",
            "bare NOTIFY round trip p50",
            percentile(raw, 0.5) * us,
        ),
        Figure(
            f"long-poll wake-up p99 ({len(polls)} writes)",
            percentile(polls, 0.99) * us,
            "us",
            "bare NOTIFY round trip p99",
            percentile(raw, 0.99) * us,
            target="p99 < 100,000 us",
        ),
        Figure("long-poll wake-up mean", statistics.fmean(polls) * us, "us"),
    ]
