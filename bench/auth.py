"""What strict revocation costs the operator: an API key revoked with two API processes
running (the call returns once both have applied it) vs the same key issued (no wait).
Per-request authentication cost is the rate-limit scenario's API reads/s figure."""

from __future__ import annotations

import os
import statistics
import time
from uuid import UUID

import httpx
import psycopg

from bench.harness import ADMIN_TOKEN, BenchEnv, Figure, provision
from syncline.migrate import migrate

CALLS = int(os.environ.get("BENCH_AUTH_CALLS", "200"))


def wait_for_listeners(database_url: str, count: int) -> None:
    """Until `count` API processes' listening sessions have registered (else the revokes
    would not wait for them)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM auth_listeners l JOIN pg_stat_activity a"
                " ON a.pid = l.pid AND a.backend_start = l.backend_start"
            ).fetchone()
            if row and row[0] >= count:
                return
            time.sleep(0.05)
    raise RuntimeError("the API processes did not register their listening sessions")


def run(env: BenchEnv) -> list[Figure]:
    migrate(env.database_url)
    url = env.start_api_with(workers=2)
    tenant_id, _ = provision(url)
    issued: list[float] = []
    revoked: list[float] = []
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as admin:
        wait_for_listeners(env.database_url, 2)
        keys: list[UUID] = []
        for _ in range(CALLS):
            started = time.perf_counter()
            response = admin.post(
                f"/admin/tenants/{tenant_id}/api-keys", json={"scopes": ["records:read"]}
            )
            issued.append(time.perf_counter() - started)
            response.raise_for_status()
            keys.append(UUID(response.json()["id"]))
        for key in keys:
            started = time.perf_counter()
            admin.delete(f"/admin/api-keys/{key}").raise_for_status()
            revoked.append(time.perf_counter() - started)
    env.stop_all()
    return [
        Figure(
            "revoke an API key, 2 API processes (p50)",
            statistics.median(revoked) * 1000,
            "ms",
            "issue an API key (p50)",
            statistics.median(issued) * 1000,
        ),
        Figure(
            "revoke an API key, 2 API processes (p99)",
            statistics.quantiles(revoked, n=100)[98] * 1000,
            "ms",
            "issue an API key (p99)",
            statistics.quantiles(issued, n=100)[98] * 1000,
        ),
    ]
