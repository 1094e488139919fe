"""Event sourcing against CRUD: Syncline and the CRUD + outbox peer, alternated.

Both run as users run them: two API processes each, and beside them Syncline's
`syncline worker` (every projection, delivery) or the peer's outbox relay. The worker is
waited for until it leads its projections at the log's head, and each system gets a few
seconds of the same load before the rounds (neither's start-up is timed). Rounds alternate
the two in the same minutes (the machine's speed drifts), each creating contacts with the
same body from the same lean load generator, and print Syncline ÷ peer for creates/s, CPU
per create (every process of the system, PostgreSQL included), PostgreSQL transactions per
create, and the rows/s of a full sync (Syncline's `/v1/changes` against the peer's
`updated_since` pages; and, with no target, against the same pages rendered by PostgreSQL and
passed through, as Syncline's feed is).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import msgspec
import psycopg

from bench.harness import ROOT, BenchEnv, Figure, cpu_seconds_of, free_port
from bench.http_load import request_bytes, run_load
from bench.peer.schema import create_schema

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_COST_ROUNDS", "3"))
CLIENTS = 16
# A lighter load, measured once per system after the rounds: fewer requests in flight
# leave less to batch (group commit, live projections), so each create carries more of a
# batch's fixed cost. No target; printed so the figures at CLIENTS are not read alone.
FEW_CLIENTS = int(os.environ.get("BENCH_COST_FEW_CLIENTS", "4"))
WARM_UP = 3.0  # seconds of load before the rounds, per system
# How long after a load every backend has reported its committed transactions: an idle
# backend flushes its statistics after 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
STATS_REPORTED = 11.0
BODY = b'{"email": "c%d-%d@example.com", "name": "Bench %d", "tags": ["vip"]}'


@dataclass
class System:
    name: str
    url: str
    key: str
    processes: list[subprocess.Popen[bytes]]
    sync_path: Callable[[str | None], str]  # cursor → path of the next sync page
    # The same pages rendered by PostgreSQL and passed through (the peer's reference route).
    rendered_sync_path: Callable[[str | None], str] | None = None

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.processes)


@dataclass
class Round:
    creates_per_second: float
    cpu_per_create: float  # the system's processes and PostgreSQL, seconds
    transactions_per_create: float


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def start_syncline(env: BenchEnv) -> System:
    url = env.start_api(workers=2)
    key = env.provision(url, "Cost")
    env.wait_for_worker(env.spawn("worker"))
    processes = list(env.processes)
    return System(
        "Syncline",
        url,
        key,
        processes,
        lambda cursor: "/v1/changes?limit=1000" + (f"&cursor={quote(cursor)}" if cursor else ""),
    )


def start_peer(env: BenchEnv) -> System:
    create_schema(env.database_url)
    key = f"peer_{uuid.uuid4().hex}"
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO peer_api_keys VALUES (%s, %s)",
            (hashlib.sha256(key.encode()).digest(), uuid.uuid4()),
        )
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": env.database_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.peer.app", "--port", str(port), "--workers", "2"],
            env=environ,
            cwd=ROOT,
        ),
        subprocess.Popen([sys.executable, "-m", "bench.peer.relay"], env=environ, cwd=ROOT),
    ]
    env.processes.extend(processes)  # stopped with the rest
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url)
    since = "1970-01-01T00:00:00Z"

    def sync_path(cursor: str | None, route: str = "/v1/contacts") -> str:
        path = f"{route}?limit=1000&updated_since={since}"
        return path + (f"&cursor={quote(cursor)}" if cursor else "")

    return System(
        "peer",
        url,
        key,
        processes,
        sync_path,
        lambda cursor: sync_path(cursor, "/v1/rendered/contacts"),
    )


def _committed(conn: psycopg.Connection[Any]) -> int:
    """The database's committed transactions as its backends have reported them."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0


def _reported_commits(conn: psycopg.Connection[Any], quiet_since: float) -> int:
    """`_committed` once every backend has reported what it committed before `quiet_since`
    (a `time.monotonic()`, when the load stopped).

    A backend reports its counts at most once a second while busy, and an idle one only
    after PGSTAT_IDLE_INTERVAL (10 s): read sooner, a round missed the last commits of its
    busiest sessions (the group commit's, whose counts arrived seconds later, inside the
    next round, often the other system's). At 2 clients Syncline's transactions per create
    read 3.5 that way, where the settled count is about 1.3."""
    time.sleep(max(0.0, quiet_since + STATS_REPORTED - time.monotonic()))
    return _committed(conn)


def _create_request(system: System) -> Callable[[int, int], bytes]:
    build = request_bytes(
        "POST",
        f"{system.url}/v1/contacts",
        {"Authorization": f"Bearer {system.key}", "Content-Type": "application/json"},
    )
    return lambda n, i: build(BODY % (n, i, i))


def warm_up(system: System) -> None:
    """A few seconds of the same load, not measured: both systems' rounds then time their
    steady state, not their first requests (pools growing, statements being prepared)."""
    run_load(system.url, _create_request(system), clients=CLIENTS, duration=WARM_UP, expect=201)


def measure_creates(
    env: BenchEnv, system: System, stats: psycopg.Connection[Any], clients: int = CLIENTS
) -> Round:
    """One round of creates. Called after the machine has been quiet for STATS_REPORTED
    (as every round leaves it), so the transactions counted are this round's."""
    create = _create_request(system)
    before_tx, before_cpu = _committed(stats), system.cpu_seconds()
    before_pg = env.postgres_cpu_seconds()
    result = run_load(
        system.url,
        create,
        clients=clients,
        duration=DURATION,
        expect=201,
    )
    stopped = time.monotonic()
    # The worker (or relay) finishes what the load left it, inside the measurement.
    time.sleep(2)
    cpu = system.cpu_seconds() - before_cpu + env.postgres_cpu_seconds() - before_pg
    # Counted after the CPU: the wait for every report would add idle time to it.
    transactions = _reported_commits(stats, stopped) - before_tx
    return Round(result.rate, cpu / result.requests, transactions / result.requests)


def sync_rows_per_second(system: System, *, rendered: bool = False) -> float:
    """A full sync by one keep-alive `http.client` connection, pages of 1000 (the peer's
    PostgreSQL-rendered pages with `rendered`)."""
    path = system.rendered_sync_path if rendered else system.sync_path
    assert path is not None, f"{system.name} has no rendered pages"
    address = urlsplit(system.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port)
    headers = {"Authorization": f"Bearer {system.key}"}
    decoder = msgspec.json.Decoder()
    seen, cursor = 0, None
    started = time.monotonic()
    try:
        while True:
            connection.request("GET", path(cursor), headers=headers)
            response = connection.getresponse()
            page = decoder.decode(response.read())
            if response.status != 200:
                raise RuntimeError(f"{system.name} sync answered {response.status}: {page}")
            seen += len(page["data"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return seen / (time.monotonic() - started)
    finally:
        connection.close()


def run(env: BenchEnv) -> list[Figure]:
    syncline, peer = start_syncline(env), start_peer(env)
    rounds: dict[str, list[Round]] = {"Syncline": [], "peer": []}
    for system in (syncline, peer):
        warm_up(system)
    with psycopg.connect(env.database_url, autocommit=True) as stats:
        _reported_commits(stats, time.monotonic())  # the warm-ups' reports are in
        for n in range(ROUNDS):
            order = (syncline, peer) if n % 2 == 0 else (peer, syncline)
            for system in order:
                measured = measure_creates(env, system, stats)
                rounds[system.name].append(measured)
                print(
                    f"   round {n + 1} {system.name:<8} {measured.creates_per_second:,.0f}"
                    f" creates/s, {measured.cpu_per_create * 1e6:,.0f} µs CPU per create,"
                    f" {measured.transactions_per_create:.2f} transactions per create",
                    flush=True,
                )
        light: dict[str, Round] = {}
        for system in (syncline, peer):
            light[system.name] = measured = measure_creates(env, system, stats, FEW_CLIENTS)
            print(
                f"   {FEW_CLIENTS} clients {system.name:<8} {measured.creates_per_second:,.0f}"
                f" creates/s, {measured.cpu_per_create * 1e6:,.0f} µs CPU per create,"
                f" {measured.transactions_per_create:.2f} transactions per create",
                flush=True,
            )
    syncs: dict[str, list[float]] = {"Syncline": [], "peer": [], "rendered": []}
    # Each round in another order: the three syncs take turns at going first.
    syncers: list[tuple[str, Callable[[], float]]] = [
        ("Syncline", lambda: sync_rows_per_second(syncline)),
        ("peer", lambda: sync_rows_per_second(peer)),
        ("rendered", lambda: sync_rows_per_second(peer, rendered=True)),
    ]
    for n in range(3):
        for name, sync in syncers[n:] + syncers[:n]:
            syncs[name].append(sync())

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in rounds[name])

    def paired(field: str) -> float:
        return statistics.median(
            getattr(s, field) / getattr(p, field)
            for s, p in zip(rounds["Syncline"], rounds["peer"], strict=True)
        )

    return [
        Figure(
            "creates/s with the worker live (2 API processes)",
            median("Syncline", "creates_per_second"),
            "/s",
            "CRUD + outbox peer with its relay live",
            median("peer", "creates_per_second"),
            target=">= 1.0",
            paired_ratio=paired("creates_per_second"),
        ),
        Figure(
            "CPU per create, every process + PostgreSQL",
            median("Syncline", "cpu_per_create") * 1e6,
            "µs",
            "the peer's",
            median("peer", "cpu_per_create") * 1e6,
            target="<= 1.2",
            paired_ratio=paired("cpu_per_create"),
        ),
        Figure(
            "PostgreSQL transactions per create",
            median("Syncline", "transactions_per_create"),
            "",
            "the peer's",
            median("peer", "transactions_per_create"),
            target="Syncline <= 1.5",
        ),
        Figure(
            f"creates/s at {FEW_CLIENTS} clients",
            light["Syncline"].creates_per_second,
            "/s",
            "the peer's",
            light["peer"].creates_per_second,
        ),
        Figure(
            f"CPU per create at {FEW_CLIENTS} clients",
            light["Syncline"].cpu_per_create * 1e6,
            "µs",
            "the peer's",
            light["peer"].cpu_per_create * 1e6,
        ),
        Figure(
            f"PostgreSQL transactions per create at {FEW_CLIENTS} clients",
            light["Syncline"].transactions_per_create,
            "",
            "the peer's",
            light["peer"].transactions_per_create,
        ),
        Figure(
            "full sync rows/s (/v1/changes)",
            statistics.median(syncs["Syncline"]),
            "/s",
            "the peer's updated_since pages",
            statistics.median(syncs["peer"]),
            target=">= 2.0",
        ),
        Figure(
            "full sync rows/s (/v1/changes), no target",
            statistics.median(syncs["Syncline"]),
            "/s",
            "the peer's pages rendered by PostgreSQL and passed through",
            statistics.median(syncs["rendered"]),
        ),
    ]
