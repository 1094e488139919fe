"""Projection catch-up: a backlog of events into the change feed, vs raw batched inserts."""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple
from uuid import uuid4

import psycopg

from bench.backlog import append_contacts, log_head, open_runtime
from bench.harness import BenchEnv, Figure
from projections.log_reader import DEFAULT_BATCH
from projections.records.projection import RecordsProjection
from projections.runner import ProjectionRunner
from syncline.garbage_collection import settle_heap
from syncline.runtime import Runtime

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
BATCH = DEFAULT_BATCH  # the COPYs' rows per transaction: a runner's batch
# Each figure, the raw limits included, is the median of this many runs: on a shared
# two-core machine one COPY run was seen anywhere from 38k to 97k rows/s.
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# The read models a worker writes rows to for record events, and their rows' order: the
# records table (the change feed and the lists read it), the event log and the audit chain
# (tenants, credentials and the webhook outbox get no rows from record events; the audit
# chain's heads, a row per tenant, are left out).
WORKER_TABLES = {
    "records": "position",
    "event_log": "position",
    "audit_chain": "position",
}
# The projections whose rows those are: a worker has done that work when all are at the head.
WORKER_WRITERS = ["records", "events", "audit"]
# The projection that writes the change feed's rows (the records table), and its table.
FEED = "records"


def reset(runtime: Runtime) -> None:
    """Every projection back to an empty read model at position 0."""
    with runtime.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        for projection in runtime.projections:
            projection.clear(cur)
        cur.execute("UPDATE projection_tracking SET position = 0")


def first_moved(runtime: Runtime) -> int:
    """The furthest position any projection has reached (0: none has moved yet)."""
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT max(position) FROM projection_tracking").fetchone()
    return int(row[0]) if row and row[0] else 0


def position(runtime: Runtime, name: str) -> int:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def copy_tables(env: BenchEnv, chunks_by_table: dict[str, list[bytes]]) -> float:
    """These read models' rows (`copy_chunks`), COPYed into tables of the same shape and
    indexes, a runner's batch of rows (`BATCH`) per transaction, each table on its own
    connection, all at once: the fastest way PostgreSQL takes these rows. The COPY data is
    PostgreSQL's own text, cut into batch-sized chunks before the clock starts, so the
    client does next to nothing.
    Answers the seconds from the first chunk sent until the last table is done."""
    tables = list(chunks_by_table)
    chunks = list(chunks_by_table.values())
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
    """A read model's rows in order, as COPY text (PostgreSQL's own), `BATCH` rows a chunk."""
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


def fill_read_models(runtime: Runtime) -> None:
    """Every read model full, up to the head (what the raw COPYs copy)."""
    runners = [ProjectionRunner(runtime.app, runtime.pool, p) for p in runtime.projections]
    for runner in runners:
        runner.ensure_tracking()
    reset(runtime)
    for runner in runners:
        runner.process_available()


def runner_alone(runtime: Runtime) -> float:
    """The change feed's runner (the records projection's) in this process, from an empty
    feed, as `syncline replay records` runs it (the heap settled): events/s."""
    runner = ProjectionRunner(runtime.app, runtime.pool, RecordsProjection())
    runner.ensure_tracking()
    reset(runtime)
    started = time.monotonic()
    return runner.process_available() / (time.monotonic() - started)


class CatchUp(NamedTuple):
    feed: float  # events/s until the change feed reached the head
    all_rows: float  # events/s until the feed, records and event log all reached it


def worker_catch_up(env: BenchEnv, runtime: Runtime, head: int, *workers: list[str]) -> CatchUp:
    """`syncline worker` processes (with these arguments) from empty read models, timed
    from the first batch any projection commits: until the feed reaches the log head, and
    until every projection that writes rows for record events does. CPU per event is
    printed for the whole of it."""
    reset(runtime)
    try:
        for arguments in workers:
            env.spawn("worker", *arguments)
        deadline = time.monotonic() + 600
        first = 0
        started = feed_done = cpu = postgres = 0.0
        while time.monotonic() < deadline:
            if first == 0:
                first = first_moved(runtime)
                if first:
                    started = time.monotonic()
                    cpu, postgres = env.cpu_seconds(), env.postgres_cpu_seconds()
            elif not feed_done and position(runtime, FEED) >= head:
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


def run(env: BenchEnv) -> list[Figure]:
    runtime = open_runtime(env)
    try:
        appended = append_contacts(runtime, [uuid4() for _ in range(20)], EVENTS)
        print(f"   appended {EVENTS:,} events at {appended:,.0f}/s", flush=True)
        head = log_head(runtime)
        # The raw limits' data: every read model's rows for the backlog, as COPY text.
        fill_read_models(runtime)
        feed_chunks = {FEED: copy_chunks(env, FEED)}
        every_chunk = {table: copy_chunks(env, table) for table in WORKER_TABLES}
        feed_rows = table_rows(runtime, FEED)  # one per record: here one per event
        events = table_rows(runtime, "event_log")  # one per record event
        settle_heap()  # for the runner alone, as `syncline replay` does

        # Each round measures everything once, the COPYs first and last: the machine's
        # speed drifts over minutes (one COPY run was seen anywhere from 38k to 145k rows/s
        # in a session), so each limit is measured beside the figures set against it.
        alones: list[float] = []
        workers: list[CatchUp] = []
        splits: list[CatchUp] = []
        feed_copies: list[float] = []
        every_copies: list[float] = []
        for round_ in range(1, RUNS + 1):
            feed_copies.append(feed_rows / copy_tables(env, feed_chunks))
            alones.append(runner_alone(runtime))
            workers.append(worker_catch_up(env, runtime, head, []))
            splits.append(
                worker_catch_up(
                    env,
                    runtime,
                    head,
                    ["--projections", FEED],
                    ["--projections", "tenants,events,deliveries,audit"],
                )
            )
            every_copies.append(events / copy_tables(env, every_chunk))
            print(
                f"   round {round_}: COPY of the feed's rows {feed_copies[-1]:,.0f}/s,"
                f" runner alone {alones[-1]:,.0f} ({alones[-1] / feed_copies[-1]:.3f}),"
                f" one worker's feed {workers[-1].feed:,.0f}"
                f" ({workers[-1].feed / feed_copies[-1]:.3f}), its own worker"
                f" {splits[-1].feed:,.0f} ({splits[-1].feed / feed_copies[-1]:.3f});"
                f" COPY of every row {every_copies[-1]:,.0f}/s, one worker's whole catch-up"
                f" {workers[-1].all_rows:,.0f} ({workers[-1].all_rows / every_copies[-1]:.3f})",
                flush=True,
            )
        alone = statistics.median(alones)
        worker = CatchUp(
            statistics.median(w.feed for w in workers),
            statistics.median(w.all_rows for w in workers),
        )
        split = CatchUp(
            statistics.median(w.feed for w in splits),
            statistics.median(w.all_rows for w in splits),
        )
        feed_rows_rate = statistics.median(feed_copies)
        every_row = statistics.median(every_copies)

        def paired(rates: list[float], limits: list[float]) -> float:
            return statistics.median(r / limit for r, limit in zip(rates, limits, strict=True))

        ratios = [
            paired(alones, feed_copies),
            paired([w.feed for w in workers], feed_copies),
            paired([w.all_rows for w in workers], every_copies),
            paired([w.feed for w in splits], feed_copies),
        ]
    finally:
        runtime.close()
    feed_copy = f"COPY of the feed's rows ({BATCH}-row txns)"
    return [
        Figure(
            f"feed catch-up, its runner alone ({EVENTS:,} events)",
            alone,
            "events/s",
            feed_copy,
            feed_rows_rate,
            target=">= 0.3",
            paired_ratio=ratios[0],
        ),
        Figure(
            "feed catch-up, one worker (5 projections)",
            worker.feed,
            "events/s",
            feed_copy,
            feed_rows_rate,
            target=">= 0.3",
            paired_ratio=ratios[1],
        ),
        Figure(
            "all read models caught up, one worker",
            worker.all_rows,
            "events/s",
            "COPY of every row it writes (a connection per table)",
            every_row,
            target=">= 0.3",
            paired_ratio=ratios[2],
        ),
        Figure(
            "feed catch-up, the feed in a worker of its own",
            split.feed,
            "events/s",
            feed_copy,
            feed_rows_rate,
            target=">= 0.3",
            paired_ratio=ratios[3],
        ),
    ]
