"""API creates/s at 16 concurrent clients vs raw single-row insert transactions/s.

The API gets a few seconds of the same load first (not measured: its pools filling and its
statements being prepared are its start-up, not its steady state), and the raw limit is
measured just before and just after the API's run, against their mean: the machine's speed
drifts over a minute, so a limit measured once and apart reads a ratio off another speed."""

from __future__ import annotations

import os
import uuid

import psycopg

from bench.harness import BenchEnv, Figure, api_workers, rate_over_connections
from bench.http_load import LoadResult, request_bytes, run_load

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
WARM_UP = 3.0  # seconds of the same load before the measured run
CLIENTS = 16
EVENT_STATE = os.urandom(200).hex().encode()  # ~400 bytes, the size of a contact event


def raw_inserts_per_second(env: BenchEnv, connections: int = 4) -> float:
    """Single-row insert transactions of an event-sized row, from `connections` connections."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw (originator_id uuid, originator_version int,"
            " topic text, state bytea, id bigserial PRIMARY KEY)"
        )
    insert = (
        "INSERT INTO bench_raw (originator_id, originator_version, topic, state)"
        " VALUES (%s, 1, 'domain.contact:Contact.Created', %s)"
    )
    return rate_over_connections(
        env.database_url,
        lambda conn, _: conn.execute(insert, (uuid.uuid4(), EVENT_STATE), prepare=True),
        DURATION,
        connections,
    )


def _api_creates(url: str, key: str, clients: int, duration: float = DURATION) -> LoadResult:
    build = request_bytes(
        "POST",
        f"{url}/v1/contacts",
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return run_load(
        url,
        lambda n, i: build(b'{"email": "c%d-%d@example.com", "name": "Bench %d"}' % (n, i, i)),
        clients=clients,
        duration=duration,
        expect=201,
    )


def run(env: BenchEnv) -> list[Figure]:
    # Many concurrent writers: one API process per core, as `syncline serve --workers` runs.
    processes = api_workers(os.cpu_count() or 1)
    url = env.start_api(workers=processes)
    key = env.provision(url)
    _api_creates(url, key, clients=CLIENTS, duration=WARM_UP)
    before = raw_inserts_per_second(env)
    cpu = env.cpu_seconds()
    creates = _api_creates(url, key, clients=CLIENTS)
    server = (env.cpu_seconds() - cpu) / creates.requests
    after = raw_inserts_per_second(env)
    print(
        f"   CPU per create: API processes {server * 1e6:.0f} µs,"
        f" load generator {creates.client_cpu_per_request * 1e6:.0f} µs;"
        f" raw inserts/s before {before:,.0f}, after {after:,.0f}",
        flush=True,
    )
    return [
        Figure(
            f"API creates/s ({CLIENTS} clients, {processes} API processes)",
            creates.rate,
            "/s",
            "raw single-row inserts/s (4 connections), mean of before and after",
            (before + after) / 2,
            target=">= 0.25",
        )
    ]
