"""Projection catch-up: a backlog of events into the change feed, vs raw batched inserts."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from uuid import uuid4

import psycopg

from bench.backlog import append_contacts, log_head, open_runtime
from bench.harness import BenchEnv, Figure
from projections.changes.projection import ChangesProjection
from projections.runner import ProjectionRunner
from syncline.garbage_collection import settle_heap
from syncline.runtime import Runtime

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
BATCH = 1000
# Each figure, the raw limits included, is the median of this many runs: on a shared
# two-core machine one COPY run was seen anywhere from 38k to 97k rows/s.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# The read models a worker writes rows to for record events, and their rows' order: the
# change feed, the records read model and the event log (tenants, credentials and the
# webhook outbox get no rows from record events).
WORKER_TABLES = {
    "changes": "position",
    "contacts": "created_at, id",
    "orders": "created_at, id",
    "event_log": "position",
}
# The projections whose rows those are: a worker has done that work when all are at the head.
WORKER_WRITERS = ["changes", "records", "events"]


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
    way PostgreSQL takes these rows. The COPY data is PostgreSQL's own text, cut into
    1000-row chunks before the clock starts, so the client does next to nothing.
    Answers the seconds from the first chunk sent until the last table is done."""
    chunks = [copy_chunks(env, table) for table in tables]
    connections = [psycopg.connect(env.database_url, autocommit=True) for _ in tables]
    start = threading.Barrier(len(tables) + 1)

    def copy(conn: psycopg.Connection[tuple[object, ...]], table: str, data: list[bytes]) -> None:
        start.wait()
        for chunk in data:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY bench_raw_{table} FROM STDIN") as stream,
            ):
                stream.write(chunk)

    try:
        with connections[0].cursor() as cur:
            for table in tables:
                cur.execute(f"DROP TABLE IF EXISTS bench_raw_{table}")
                cur.execute(f"CREATE TABLE bench_raw_{table} (LIKE {table} INCLUDING ALL)")
        with ThreadPoolExecutor(len(tables)) as pool:
            copies = [
                pool.submit(copy, conn, table, data)
                for conn, table, data in zip(connections, tables, chunks, strict=True)
            ]
            start.wait()
            started = time.monotonic()
            for done in copies:
                done.result()  # a failed COPY fails the benchmark, not a faster baseline
            elapsed = time.monotonic() - started
        with connections[0].cursor() as cur:
            for table in tables:
                cur.execute(f"DROP TABLE bench_raw_{table}")
    finally:
        for conn in connections:
            conn.close()
    return elapsed


def copy_chunks(env: BenchEnv, table: str) -> list[bytes]:
    """A read model's rows in order, as COPY text (PostgreSQL's own), 1000 rows a chunk."""
    order = WORKER_TABLES[table]
    query = f"COPY (SELECT * FROM {table} ORDER BY {order}) TO STDOUT"
    with (
        psycopg.connect(env.database_url, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(query) as stream,
    ):
        data = b"".join(bytes(block) for block in stream)
    # COPY text escapes newlines inside values, so each line is one row.
    lines = data.splitlines(keepends=True)
    return [b"".join(lines[i : i + BATCH]) for i in range(0, len(lines), BATCH)]


def table_rows(runtime: Runtime, table: str) -> int:
    with runtime.pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def feed_rows_copied(env: BenchEnv, runtime: Runtime) -> float:
    """The feed's rows COPYed: rows/s (one per record, and here one record per event)."""
    return table_rows(runtime, "changes") / copy_tables(env, ["changes"])


def worker_rows_copied(env: BenchEnv, runtime: Runtime) -> float:
    """Every row a worker writes for the backlog (feed, records, event log), COPYed with
    a connection per table at once: events/s."""
    events = table_rows(runtime, "event_log")  # one row per record event
    return events / copy_tables(env, list(WORKER_TABLES))


def fill_read_models(runtime: Runtime) -> None:
    """Every read model full, up to the head (what the raw COPYs copy)."""
    reset(runtime)
    for projection in runtime.projections:
        ProjectionRunner(runtime.app, runtime.pool, projection).process_available()


def median_of_runs(name: str, run: Callable[[], float]) -> float:
    """`run()` RUNS times; the median, with every run printed."""
    rates = [run() for _ in range(RUNS)]
    print(f"   {name}: {', '.join(f'{rate:,.0f}' for rate in rates)}", flush=True)
    return statistics.median(rates)


def runner_alone(runtime: Runtime) -> float:
    """The change feed's runner in this process, from an empty feed, as `syncline replay
    changes` runs it (the heap settled): events/s."""
    runner = ProjectionRunner(runtime.app, runtime.pool, ChangesProjection())
    runner.ensure_tracking()
    reset(runtime)
    started = time.monotonic()
    return runner.process_available() / (time.monotonic() - started)


class CatchUp(NamedTuple):
    feed: float  # events/s until the change feed reached the head
    all_rows: float  # events/s until the feed, records and event log all reached it


def worker_catch_up(env: BenchEnv, runtime: Runtime, head: int, *workers: list[str]) -> CatchUp:
    """`syncline worker` processes (with these arguments) from empty read models, timed
    from the feed's first batch: until the feed reaches the log head, and until every
    projection that writes rows for record events does. CPU per event is printed for the
    whole of it."""
    reset(runtime)
    try:
        for arguments in workers:
            env.spawn("worker", *arguments)
        deadline = time.monotonic() + 600
        first = 0
        started = feed_done = cpu = postgres = 0.0
        while time.monotonic() < deadline:
            if first == 0:
                first = position(runtime, "changes")
                if first:
                    started = time.monotonic()
                    cpu, postgres = env.cpu_seconds(), env.postgres_cpu_seconds()
            elif not feed_done and position(runtime, "changes") >= head:
                feed_done = time.monotonic()
            elif feed_done and all(position(runtime, n) >= head for n in WORKER_WRITERS):
                events = head - first
                used = (env.cpu_seconds() - cpu) / events
                used_by_postgres = (env.postgres_cpu_seconds() - postgres) / events
                result = CatchUp(
                    events / (feed_done - started), events / (time.monotonic() - started)
                )
                print(
                    f"   (feed {result.feed:,.0f} events/s, all read models"
                    f" {result.all_rows:,.0f}/s; CPU per event: workers {used * 1e6:.0f} us,"
                    f" PostgreSQL {used_by_postgres * 1e6:.0f} us)",
                    flush=True,
                )
                return result
            time.sleep(0.005)
        raise RuntimeError("the worker did not catch up within 10 minutes")
    finally:
        env.stop_all()


def medians_of_catch_ups(name: str, run: Callable[[], CatchUp]) -> CatchUp:
    runs = [run() for _ in range(RUNS)]
    feed = statistics.median(r.feed for r in runs)
    all_rows = statistics.median(r.all_rows for r in runs)
    print(f"   {name}: feed {feed:,.0f}, all read models {all_rows:,.0f} (medians)", flush=True)
    return CatchUp(feed, all_rows)


def run(env: BenchEnv) -> list[Figure]:
    runtime = open_runtime(env)
    try:
        appended = append_contacts(runtime, [uuid4() for _ in range(20)], EVENTS)
        print(f"   appended {EVENTS:,} events at {appended:,.0f}/s", flush=True)
        head = log_head(runtime)
        settle_heap()

        alone = median_of_runs("runner alone", lambda: runner_alone(runtime))
        worker = medians_of_catch_ups("one worker", lambda: worker_catch_up(env, runtime, head, []))
        split = medians_of_catch_ups(
            "feed in its own worker",
            lambda: worker_catch_up(
                env,
                runtime,
                head,
                ["--projections", "changes"],
                ["--projections", "records,tenants,events,deliveries"],
            ),
        )
        fill_read_models(runtime)
        feed_rows = median_of_runs(
            "COPY of the feed's rows", lambda: feed_rows_copied(env, runtime)
        )
        every_row = median_of_runs(
            "COPY of every row a worker writes", lambda: worker_rows_copied(env, runtime)
        )
    finally:
        runtime.close()
    feed_copy = "COPY of the feed's rows (1000-row txns)"
    return [
        Figure(
            f"feed catch-up, its runner alone ({EVENTS:,} events)",
            alone,
            "events/s",
            feed_copy,
            feed_rows,
            target=">= 0.3",
        ),
        Figure(
            "feed catch-up, one worker (5 projections)",
            worker.feed,
            "events/s",
            feed_copy,
            feed_rows,
            target=">= 0.3",
        ),
        Figure(
            "all read models caught up, one worker",
            worker.all_rows,
            "events/s",
            "COPY of every row it writes (a connection per table)",
            every_row,
            target=">= 0.3",
        ),
        Figure(
            "feed catch-up, the feed in a worker of its own",
            split.feed,
            "events/s",
            feed_copy,
            feed_rows,
            target=">= 0.3",
        ),
    ]
