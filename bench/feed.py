"""Feed read: paging /v1/changes?limit=1000 vs a raw SQL range scan + JSON encoding."""

from __future__ import annotations

import os
import statistics
import time

import httpx
import msgspec
import psycopg

from bench.backlog import append_contacts, open_runtime
from bench.harness import BenchEnv, Figure, provision
from projections.changes.projection import ChangesProjection
from projections.runner import ProjectionRunner

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
PAGE = 1000
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

_RAW_PAGE = """
    SELECT position, resource_type, id::text, version, deleted, changed_at, event_type,
           data::text
    FROM changes WHERE tenant_id = %s AND position > %s ORDER BY position LIMIT %s
"""


class Page(msgspec.Struct):
    """What a syncing client needs of a page to go on; the items are checked as JSON but
    not turned into Python objects (a client hands them to its own storage)."""

    data: list[msgspec.Raw]
    next_cursor: str
    has_more: bool


def api_read(url: str, key: str) -> tuple[int, float]:
    """Changes/s of one client following next_cursor from the beginning."""
    decoder = msgspec.json.Decoder(Page)
    seen = 0
    cursor = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        started = time.monotonic()
        while True:
            params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            response = client.get("/v1/changes", params=params)
            response.raise_for_status()
            page = decoder.decode(response.content)
            seen += len(page.data)
            cursor = page.next_cursor
            if not page.has_more:
                return seen, seen / (time.monotonic() - started)


def raw_read(env: BenchEnv, tenant_id: object) -> tuple[int, float]:
    """The same rows by keyset range scans, each page encoded as JSON."""
    encoder = msgspec.json.Encoder()
    seen = 0
    after = 0
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        started = time.monotonic()
        while True:
            rows = conn.execute(_RAW_PAGE, (tenant_id, after, PAGE), prepare=True).fetchall()
            if not rows:
                return seen, seen / (time.monotonic() - started)
            encoder.encode(
                {
                    "data": [
                        {
                            "cursor": str(r[0]),
                            "resource_type": r[1],
                            "id": r[2],
                            "version": r[3],
                            "deleted": r[4],
                            "changed_at": r[5],
                            "event_type": r[6],
                            "data": msgspec.Raw(r[7].encode()) if r[7] else None,
                        }
                        for r in rows
                    ],
                    "next_cursor": str(rows[-1][0]),
                    "has_more": len(rows) == PAGE,
                }
            )
            seen += len(rows)
            after = rows[-1][0]


def run(env: BenchEnv) -> list[Figure]:
    url = env.start_api()
    tenant_id, key = provision(url)
    runtime = open_runtime(env)
    try:
        append_contacts(runtime, [tenant_id], EVENTS)
        runner = ProjectionRunner(runtime.app, runtime.pool, ChangesProjection())
        runner.ensure_tracking()
        runner.process_available()
        with runtime.pool.connection() as conn:
            # Statistics, as autovacuum would gather them: right after a bulk load the
            # planner knows nothing of the table's size and may choose a full scan.
            conn.execute("ANALYZE changes")
    finally:
        runtime.close()
    # Alternated, each the median of RUNS passes: one pass is 50 pages, a third of a
    # second, and a single pass of either moved by a fifth between runs.
    raws: list[float] = []
    apis: list[float] = []
    for _ in range(RUNS):
        raw_seen, rate = raw_read(env, tenant_id)
        raws.append(rate)
        api_seen, rate = api_read(url, key)
        apis.append(rate)
        if api_seen != raw_seen or api_seen < EVENTS:
            raise RuntimeError(
                f"the API paged {api_seen} changes, SQL {raw_seen}, expected {EVENTS}"
            )
    print(f"   raw: {', '.join(f'{r:,.0f}' for r in raws)}", flush=True)
    print(f"   API: {', '.join(f'{r:,.0f}' for r in apis)}", flush=True)
    raw, api = statistics.median(raws), statistics.median(apis)
    return [
        Figure(
            f"GET /v1/changes?limit={PAGE} ({api_seen:,} changes)",
            api,
            "changes/s",
            "raw SQL range scan + JSON encode",
            raw,
            target=">= 0.5",
        )
    ]
