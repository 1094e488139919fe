"""API creates/s at 16 concurrent clients vs raw single-row insert transactions/s."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import aiohttp
import psycopg

from bench.harness import BenchEnv, Figure, api_workers, rate_over_connections

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


async def _api_creates(url: str, key: str, clients: int) -> float:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    deadline = time.monotonic() + DURATION
    done = 0

    async def client(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < deadline:
            body = f'{{"email": "c{n}-{i}@example.com", "name": "Bench {i}"}}'
            async with session.post(f"{url}/v1/contacts", data=body, headers=headers) as r:
                await r.read()
                if r.status != 201:
                    raise RuntimeError(f"create failed: {r.status}")
            done += 1
            i += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session, n) for n in range(clients)))
        return done / (time.monotonic() - started)


def run(env: BenchEnv) -> list[Figure]:
    raw = raw_inserts_per_second(env)
    # Many concurrent writers: one API process per core, as `syncline serve --workers` runs.
    processes = api_workers(os.cpu_count() or 1)
    url = env.start_api(workers=processes)
    key = env.provision(url)
    creates = asyncio.run(_api_creates(url, key, clients=16))
    return [
        Figure(
            f"API creates/s (16 clients, {processes} API processes)",
            creates,
            "/s",
            "raw single-row inserts/s (4 connections)",
            raw,
            target=">= 0.25",
        )
    ]
