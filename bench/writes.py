"""API creates/s at 16 concurrent clients vs raw single-row insert transactions/s."""

from __future__ import annotations

import os
import uuid

import psycopg

from bench.harness import BenchEnv, Figure, api_workers, rate_over_connections
from bench.http_load import LoadResult, request_bytes, run_load

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
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


def _api_creates(url: str, key: str, clients: int) -> LoadResult:
    build = request_bytes(
        "POST",
        f"{url}/v1/contacts",
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return run_load(
        url,
        lambda n, i: build(b'{"email": "c%d-%d@example.com", "name": "Bench %d"}' % (n, i, i)),
        clients=clients,
        duration=DURATION,
        expect=201,
    )


def run(env: BenchEnv) -> list[Figure]:
    raw = raw_inserts_per_second(env)
    # Many concurrent writers: one API process per core, as `syncline serve --workers` runs.
    processes = api_workers(os.cpu_count() or 1)
    url = env.start_api(workers=processes)
    key = env.provision(url)
    cpu = env.cpu_seconds()
    creates = _api_creates(url, key, clients=16)
    server = (env.cpu_seconds() - cpu) / creates.requests
    print(
        f"   CPU per create: API processes {server * 1e6:.0f} µs,"
        f" load generator {creates.client_cpu_per_request * 1e6:.0f} µs",
        flush=True,
    )
    return [
        Figure(
            f"API creates/s (16 clients, {processes} API processes)",
            creates.rate,
            "/s",
            "raw single-row inserts/s (4 connections)",
            raw,
            target=">= 0.25",
        )
    ]
