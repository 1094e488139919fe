"""Projection catch-up: a backlog of events into the change feed, vs raw batched inserts."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
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
# The tables a worker writes for record events: the change feed, the records read model
# and the event log (tenants, credentials and the webhook outbox get no rows from them).
WORKER_TABLES = ["changes", "contacts", "orders", "event_log"]


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


def copy_tables(env: BenchEnv, tables: Sequence[str]) -> float:
    """The rows these read models hold, COPYed into tables of the same shape and indexes,
    1000 rows per transaction, each table on its own connection, all at once: the fastest
    way PostgreSQL takes these rows. Answers the seconds until the last table is done."""
    loaded = [_rows_of(env, table) for table in tables]

    def copy(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        with psycopg.connect(env.database_url, autocommit=True) as conn:
            for i in range(0, len(rows), BATCH):
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy(f"COPY bench_raw_{table} ({columns}) FROM STDIN") as stream,
                ):
                    for row in rows[i : i + BATCH]:
                        stream.write_row(row)

    with psycopg.connect(env.database_url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"DROP TABLE IF EXISTS bench_raw_{table}")
            conn.execute(f"CREATE TABLE bench_raw_{table} (LIKE {table} INCLUDING ALL)")
        threads = [
            threading.Thread(target=copy, args=(table, columns, rows))
            for table, (columns, rows) in zip(tables, loaded, strict=True)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        for table in tables:
            conn.execute(f"DROP TABLE bench_raw_{table}")
    return elapsed


def _rows_of(env: BenchEnv, table: str) -> tuple[str, list[tuple[Any, ...]]]:
    """A table's column list and its rows, json as text (as a projection sends it)."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        described = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        selected = ", ".join(f"{n}::text" if t == "json" else n for n, t in described)
        rows = conn.execute(f"SELECT {selected} FROM {table}").fetchall()
    return ", ".join(name for name, _ in described), rows


def feed_rows_copied(env: BenchEnv) -> float:
    """The feed's rows COPYed: rows/s (one per record, and here one record per event)."""
    rows = len(_rows_of(env, "changes")[1])
    return rows / copy_tables(env, ["changes"])


def worker_rows_copied(env: BenchEnv, runtime: Runtime) -> float:
    """Every row a worker writes for the backlog (feed, records, event log), COPYed with
    a connection per table at once: events/s."""
    for projection in runtime.projections:  # every read model full, up to the head
        ProjectionRunner(runtime.app, runtime.pool, projection).process_available()
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM event_log").fetchone()
    events = int(row[0]) if row else 0  # one row per record event
    return events / copy_tables(env, WORKER_TABLES)


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
        raw = median_of_runs("COPY of the feed's rows", lambda: feed_rows_copied(env))
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
        reset(runtime)
        every_row = median_of_runs(
            "COPY of every row a worker writes", lambda: worker_rows_copied(env, runtime)
        )
    finally:
        runtime.close()
    return [
        Figure(
            f"changes catch-up, runner alone ({EVENTS:,} events)",
            alone,
            "events/s",
            "COPY of the feed's rows (1000-row txns)",
            raw,
            target=">= 0.3",
        ),
        Figure(
            "changes catch-up, `syncline worker` (5 projections)",
            worker,
            "events/s",
            "COPY of the feed's rows (1000-row txns)",
            raw,
            target=">= 0.3",
        ),
        Figure(
            "changes catch-up, `syncline worker` (5 projections)",
            worker,
            "events/s",
            "COPY of every row it writes (feed, records, event log)",
            every_row,
            target=">= 0.3",
        ),
        Figure(
            "changes catch-up, its own worker process",
            split,
            "events/s",
            "COPY of the feed's rows (1000-row txns)",
            raw,
            target=">= 0.3",
        ),
    ]
