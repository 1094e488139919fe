"""Write then list: a create, then at once `GET /v1/contacts?limit=100` in a tenant of
10,000 contacts; p50/p99 of the list, idle and while `syncline worker` catches up a
backlog of 50,000 events, vs the same page read straight from PostgreSQL.

Each create is also looked for right after (`updated_since` its own timestamp): a create
the next read does not see is a miss, printed (there should be none: the records table is
written in the transaction of the events, syncline.inline).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import httpx
import psycopg

from bench.harness import BenchEnv, Figure, provision
from domain.contact import Contact
from domain.context import Actor, Context
from projections.records.view import list_query
from syncline.config import Settings
from syncline.runtime import Runtime

CONTACTS = int(os.environ.get("BENCH_RYW_CONTACTS", "10000"))
BACKLOG = int(os.environ.get("BENCH_EVENTS", "50000"))
TRIES = int(os.environ.get("BENCH_RYW_TRIES", "300"))
PER_SAVE = 500


def append(runtime: Runtime, tenant: UUID, count: int) -> None:
    """`count` contacts in `tenant`, 500 per save (group commit; the records table inline)."""
    ctx = Context(tenant, Actor("system", "bench"), "bench")
    for start in range(0, count, PER_SAVE):
        runtime.app.save(
            *(
                Contact.create(ctx, {"email": f"s{start + i}@example.com"}, id=uuid4())
                for i in range(min(PER_SAVE, count - start))
            )
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def raw_list_seconds(env: BenchEnv, tenant: UUID, tries: int = 300) -> list[float]:
    """The same page, the same query, straight from PostgreSQL (one connection)."""
    times = []
    query, params = list_query("contact", tenant, 100)  # the API's page of 100
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        for _ in range(tries):
            started = time.perf_counter()
            conn.execute(query, params, prepare=True).fetchall()  # type: ignore[arg-type]
            times.append(time.perf_counter() - started)
    return times


def write_then_list(
    client: httpx.Client, tries: int, busy: Callable[[], bool] | None = None
) -> tuple[list[float], int]:
    """List latencies after each create (seconds), and how many creates the next read missed;
    `tries` of them, or (with `busy`) as long as `busy()` answers true, checked every tenth."""
    times: list[float] = []
    missed = 0
    for i in range(tries):
        created = client.post("/v1/contacts", json={"email": f"w{i}-{uuid4().hex[:8]}@example.com"})
        created.raise_for_status()
        started = time.perf_counter()
        listed = client.get("/v1/contacts", params={"limit": 100})
        times.append(time.perf_counter() - started)
        listed.raise_for_status()
        record = created.json()
        since = client.get(
            "/v1/contacts", params={"limit": 100, "updated_since": record["updated_at"]}
        ).json()["data"]
        missed += record["id"] not in {c["id"] for c in since}
        if busy is not None and i % 10 == 9 and not busy():
            break
    return times, missed


def positions(env: BenchEnv) -> dict[str, int]:
    with psycopg.connect(env.database_url) as conn:
        return dict(conn.execute("SELECT name, position FROM projection_tracking").fetchall())


def figures(name: str, times: list[float], raw: list[float], target: str) -> list[Figure]:
    return [
        Figure(
            f"write-then-list p{p} ({name})",
            percentile(times, p / 100) * 1e3,
            "ms",
            f"the page straight from PostgreSQL, p{p}",
            percentile(raw, p / 100) * 1e3,
            target=target if p == 99 else "",
        )
        for p in (50, 99)
    ]


def run(env: BenchEnv) -> list[Figure]:
    url = env.start_api(workers=2)
    worker = env.spawn("worker")
    tenant, key = provision(url, "Lists")
    runtime = Runtime.open(Settings(database_url=env.database_url), pool_size=2)
    try:
        append(runtime, tenant, CONTACTS)
        raw = raw_list_seconds(env, tenant)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            idle, idle_missed = write_then_list(client, TRIES)
            print(
                f"   idle: {len(idle)} creates, {idle_missed} missed by the next read", flush=True
            )

            # The backlog: the worker stopped, 50,000 events of other tenants appended, the
            # worker started again; measured while it works through them.
            env.stop(worker)
            others = [uuid4() for _ in range(10)]
            for n, other in enumerate(others):
                append(runtime, other, BACKLOG // len(others) + (n < BACKLOG % len(others)))
            head = runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
            env.spawn("worker")
            started = time.monotonic()

            def catching_up() -> bool:
                return any(p < head for p in positions(env).values())

            busy, busy_missed = write_then_list(client, TRIES * 10, catching_up)
            print(
                f"   catching up: {len(busy)} creates in the {time.monotonic() - started:.1f} s"
                f" the worker took to reach {head}, {busy_missed} missed by the next read",
                flush=True,
            )
    finally:
        runtime.close()
    return [
        *figures("idle", idle, raw, "< 50 ms"),
        *figures(f"catching up {BACKLOG:,} events", busy, raw, "< 250 ms"),
    ]
