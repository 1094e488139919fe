"""Storage: bytes per event at 10k and at 1M events, and WAL per create across a checkpoint.

`python -m bench storage` (not part of a plain `make bench`: it takes 10-15 minutes). One
database grows to 10k events, is measured, then grows to BENCH_STORAGE_EVENTS (1M) and is
measured again. The events are contact creates appended in bulk (500 per transaction,
bench.backlog) while this process runs every projection as `syncline worker` does, so
each read model holds the rows the worker writes.

- Size: `pg_database_size` after VACUUM, over the events in the log (indexes and the
  catalog included), with the largest tables and indexes listed.
- WAL: a fixed WINDOW of creates at a steady BENCH_STORAGE_RATE per second (one record per
  transaction, projections live), with a CHECKPOINT CHECKPOINT_AT seconds in; WAL bytes from
  the window's start until the projections have processed its last create, over the
  creates. After a checkpoint each page's first change logs the whole page, so this is
  what grows with the database when inserts land on random pages of large indexes.
  The same window at 10k and at 1M: the ratio is the figure (target <= 1.5).

WAL is counted for the whole server: run it on a server of its own (the embedded one, with
DATABASE_URL unset), not one other databases are busy on.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from uuid import UUID

import psycopg

from bench.backlog import append_contacts, log_head, open_runtime
from bench.harness import BenchEnv, Figure
from domain.contact import Contact
from domain.context import Actor, Context
from domain.ids import new_id
from projections.tracking import read_position
from syncline.runtime import Runtime

SMALL = 10_000
LARGE = int(os.environ.get("BENCH_STORAGE_EVENTS", "1000000"))
TENANTS = 10
CHUNK = 50_000  # events appended between progress lines
WINDOW = float(os.environ.get("BENCH_STORAGE_WINDOW", "60"))  # seconds of steady creates
CHECKPOINT_AT = 10.0  # seconds into the window
RATE = float(os.environ.get("BENCH_STORAGE_RATE", "300"))  # creates/s in the window
WRITERS = 4  # threads sharing that rate
TOP = 20  # relations listed with the size


def caught_up(runtime: Runtime, timeout: float = 900.0) -> None:
    """Wait until every projection of this process has processed the whole log."""
    head = log_head(runtime)
    deadline = time.monotonic() + timeout
    for runner in runtime.runners:
        while read_position(runtime.pool, runner.name) < head:
            if time.monotonic() > deadline:
                raise RuntimeError(f"projection {runner.name} did not reach {head}")
            time.sleep(0.2)


def grow(runtime: Runtime, tenants: list[UUID], total: int) -> None:
    """Append contact creates until the log holds `total` events; projections follow."""
    started = time.monotonic()
    while (head := log_head(runtime)) < total:
        append_contacts(runtime, tenants, min(CHUNK, total - head))
        caught_up(runtime)
        took = time.monotonic() - started
        print(f"   {log_head(runtime):>9,} events, projected ({took:.0f} s)", flush=True)


def size_per_event(env: BenchEnv, runtime: Runtime) -> tuple[int, float]:
    """Events in the log, and database bytes per event after VACUUM (largest relations
    printed per event)."""
    events = log_head(runtime)
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        relations = conn.execute(
            "SELECT c.relname, c.relkind::text, pg_relation_size(c.oid)"
            " + coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)"
            " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'i') ORDER BY 3 DESC LIMIT %s",
            (TOP,),
        ).fetchall()
    assert total is not None
    for name, kind, size in relations:
        label = "index" if kind == "i" else "table"
        print(f"     {name:<40} {label:<5} {size / events:>8,.0f} B/event", flush=True)
    return events, int(total[0]) / events


def create_steadily(runtime: Runtime, tenants: list[UUID], until: float) -> int:
    """Contact creates, one per transaction, at RATE per second until `until`."""
    counts = [0] * WRITERS

    def write(i: int) -> None:
        interval = WRITERS / RATE
        due = time.monotonic() + i * interval / WRITERS
        n = 0
        while due < until:
            time.sleep(max(0.0, due - time.monotonic()))
            tenant = tenants[(i + n * WRITERS) % len(tenants)]
            ctx = Context(tenant, Actor("system", "bench"), "bench-storage")
            fields = {
                "email": f"w{i}.{n}@example.com",
                "name": "Ada Lovelace",
                "company": "Analytical Engines Ltd",
                "tags": ["customer", "bench"],
                "custom_fields": {"plan": "pro", "seats": 12},
            }
            runtime.app.save(Contact.create(ctx, fields, id=new_id()))
            n += 1
            due += interval
        counts[i] = n

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def wal_per_create(env: BenchEnv, runtime: Runtime, tenants: list[UUID]) -> float:
    """WAL bytes per create over WINDOW seconds of steady creates spanning a CHECKPOINT."""
    caught_up(runtime)
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        first: Any = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        started = time.monotonic()
        made: list[int] = []
        writers = threading.Thread(
            target=lambda: made.append(create_steadily(runtime, tenants, started + WINDOW))
        )
        writers.start()
        time.sleep(CHECKPOINT_AT)
        checkpoint_started = time.monotonic()
        conn.execute("CHECKPOINT")
        checkpoint = time.monotonic() - checkpoint_started
        writers.join()
        caught_up(runtime)
        row: Any = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (first[0],)
        ).fetchone()
    creates, wal = made[0], float(row[0])
    print(
        f"   {creates:,} creates in {WINDOW:.0f} s ({creates / WINDOW:,.0f}/s; CHECKPOINT at"
        f" {CHECKPOINT_AT:.0f} s took {checkpoint:.1f} s): {wal / 2**20:,.1f} MiB of WAL,"
        f" {wal / creates:,.0f} B per create",
        flush=True,
    )
    return wal / creates


def run(env: BenchEnv) -> list[Figure]:
    runtime = open_runtime(env)
    runtime.start_projections(poll_interval=0.2)
    tenants = [new_id() for _ in range(TENANTS)]
    try:
        grow(runtime, tenants, SMALL)
        print(f"   size at {log_head(runtime):,} events", flush=True)
        small_events, small_size = size_per_event(env, runtime)
        small_wal = wal_per_create(env, runtime, tenants)
        grow(runtime, tenants, LARGE)
        print(f"   size at {log_head(runtime):,} events", flush=True)
        large_events, large_size = size_per_event(env, runtime)
        large_wal = wal_per_create(env, runtime, tenants)
    finally:
        runtime.close()
    return [
        Figure(f"database size per event ({small_events:,} events)", small_size, "B"),
        Figure(
            f"database size per event ({large_events:,} events)",
            large_size,
            "B",
            target="<= 2048 B",
        ),
        Figure(f"WAL per create across a checkpoint ({small_events:,} events)", small_wal, "B"),
        Figure(
            f"WAL per create across a checkpoint ({large_events:,} events)",
            large_wal,
            "B",
            f"the same at {small_events:,} events",
            small_wal,
            target="<= 1.5",
        ),
    ]
