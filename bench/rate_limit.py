"""What per-credential rate limiting costs: the bucket statement vs a bare round trip, and API
reads/s of one busy credential with limiting on (leases included) vs off."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp

from api.rate_limit import TAKE
from bench.harness import BenchEnv, Figure, rate_over_connections
from syncline.migrate import migrate

DURATION = float(os.environ.get("BENCH_SECONDS", "10"))


def statements_per_second(
    env: BenchEnv, sql: str, params: dict[str, object], connections: int = 4
) -> float:
    """`sql` executed back to back from `connections` connections, each on its own key."""
    own = [{**params, "key": f"bench-{i}"} for i in range(connections)]
    return rate_over_connections(
        env.database_url,
        lambda conn, i: conn.execute(sql, own[i], prepare=True),  # type: ignore[arg-type]
        DURATION,
        connections,
    )


async def _api_reads(url: str, key: str, clients: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + DURATION
    done = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.get(f"{url}/v1/contacts?limit=1", headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"read failed: {r.status}")
            done += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return done / (time.monotonic() - started)


def api_reads_per_second(env: BenchEnv, per_second: str) -> float:
    url = env.start_api_with(SYNCLINE_RATE_LIMIT_PER_SECOND=per_second)
    key = env.provision(url)
    reads = asyncio.run(_api_reads(url, key, clients=16))
    env.stop_all()
    return reads


def run(env: BenchEnv) -> list[Figure]:
    migrate(env.database_url)
    take = {"burst": 10**9, "rate": 10**9, "want": 1, "now": None}
    raw = statements_per_second(env, "SELECT %(key)s::text", {"key": ""})
    upserts = statements_per_second(env, TAKE, take)
    limited = api_reads_per_second(env, "1000000")
    unlimited = api_reads_per_second(env, "0")
    return [
        Figure(
            "bucket UPSERTs/s (4 connections)",
            upserts,
            "/s",
            "bare SELECT round trips/s (4 connections)",
            raw,
        ),
        Figure(
            "API reads/s, rate limiting on (16 clients)",
            limited,
            "/s",
            "API reads/s, rate limiting off",
            unlimited,
            target=">= 0.8",
        ),
    ]
