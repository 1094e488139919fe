"""Projection catch-up: a backlog of events into the change feed, vs raw batched inserts."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from uuid import uuid4

import psycopg

from bench.backlog import append_contacts, log_head, open_runtime
from bench.harness import BenchEnv, Figure
from projections.changes.projection import ChangesProjection
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
BATCH = 1000
# Each figure, the raw limit included, is the median of this many runs: on a shared
# two-core machine one COPY run was seen anywhere from 38k to 97k rows/s.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
COLUMNS = "tenant_id, id, resource_type, version, deleted, changed_at, event_type, data, position"


def reset(runtime: Runtime) -> None:
    """Every projection back to an empty read model at position 0."""
    with runtime.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        for projection in runtime.projections:
            projection.clear(cur)
        cur.execute("UPDATE projection_tracking SET position = 0")


def position(runtime: Runtime, name: str) -> int:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def raw_batched_inserts(env: BenchEnv) -> float:
    """The feed's own rows, COPYed into a table of the same shape and indexes, 1000 rows
    per transaction: the fastest way PostgreSQL takes these rows."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS.replace('data', 'data::text')} FROM changes ORDER BY position"
        ).fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_changes_raw")
        conn.execute("CREATE TABLE bench_changes_raw (LIKE changes INCLUDING ALL)")
        started = time.monotonic()
        for i in range(0, len(rows), BATCH):
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY bench_changes_raw ({COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows[i : i + BATCH]:
                    copy.write_row(row)
        rate = len(rows) / (time.monotonic() - started)
        conn.execute("DROP TABLE bench_changes_raw")
    return rate


def median_of_runs(name: str, run: Callable[[], float]) -> float:
    """`run()` RUNS times; the median, with every run printed."""
    rates = [run() for _ in range(RUNS)]
    print(f"   {name}: {', '.join(f'{rate:,.0f}' for rate in rates)}", flush=True)
    return statistics.median(rates)


def runner_alone(runtime: Runtime) -> float:
    """The change feed's runner in this process, from an empty feed: events/s."""
    runner = ProjectionRunner(runtime.app, runtime.pool, ChangesProjection())
    runner.ensure_tracking()
    reset(runtime)
    started = time.monotonic()
    return runner.process_available() / (time.monotonic() - started)


def worker_catch_up(env: BenchEnv, runtime: Runtime, head: int, *workers: list[str]) -> float:
    """`syncline worker` processes (with these arguments) from empty read models: events/s
    of the change feed, from its first batch until it reaches the log head."""
    reset(runtime)
    try:
        for arguments in workers:
            env.spawn("worker", *arguments)
        deadline = time.monotonic() + 600
        first = 0
        started = cpu = postgres = 0.0
        while time.monotonic() < deadline:
            at = position(runtime, "changes")
            if first == 0 and at > 0:
                first, started = at, time.monotonic()
                cpu, postgres = env.cpu_seconds(), env.postgres_cpu_seconds()
            if at >= head:
                rate = (head - first) / (time.monotonic() - started)
                used = (env.cpu_seconds() - cpu) / (head - first)
                used_by_postgres = (env.postgres_cpu_seconds() - postgres) / (head - first)
                print(
                    f"   ({rate:,.0f} events/s; CPU per event: workers {used * 1e6:.0f} us,"
                    f" PostgreSQL {used_by_postgres * 1e6:.0f} us)",
                    flush=True,
                )
                return rate
            time.sleep(0.005)
        raise RuntimeError("the worker did not catch up within 10 minutes")
    finally:
        env.stop_all()


def run(env: BenchEnv) -> list[Figure]:
    runtime = open_runtime(env)
    try:
        appended = append_contacts(runtime, [uuid4() for _ in range(20)], EVENTS)
        print(f"   appended {EVENTS:,} events at {appended:,.0f}/s", flush=True)
        head = log_head(runtime)

        alone = median_of_runs("runner alone", lambda: runner_alone(runtime))
        raw = median_of_runs("COPY", lambda: raw_batched_inserts(env))
        worker = median_of_runs("worker", lambda: worker_catch_up(env, runtime, head, []))
        split = median_of_runs(
            "feed in its own worker",
            lambda: worker_catch_up(
                env,
                runtime,
                head,
                ["--projections", "changes"],
                ["--projections", "records,tenants,events,deliveries"],
            ),
        )
    finally:
        runtime.close()
    return [
        Figure(
            f"changes catch-up, runner alone ({EVENTS:,} events)",
            alone,
            "events/s",
            "raw batched inserts (COPY, 1000-row txns)",
            raw,
            target=">= 0.3",
        ),
        Figure(
            "changes catch-up, `syncline worker` (5 projections)",
            worker,
            "events/s",
            "raw batched inserts (COPY, 1000-row txns)",
            raw,
            target=">= 0.3",
        ),
        Figure(
            "changes catch-up, its own worker process",
            split,
            "events/s",
            "raw batched inserts (COPY, 1000-row txns)",
            raw,
            target=">= 0.3",
        ),
    ]
