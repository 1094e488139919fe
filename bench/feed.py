"""Feed read: paging /v1/changes?limit=1000 vs a raw SQL range scan + JSON encoding."""

from __future__ import annotations

import http.client
import os
import statistics
import time
from urllib.parse import urlencode, urlsplit

import msgspec
import psycopg

from bench.backlog import append_contacts, open_runtime
from bench.harness import BenchEnv, Figure, provision
from projections.records.keys import RESOURCE_KEY
from projections.records.projection import RecordsProjection
from projections.runner import ProjectionRunner

EVENTS = int(os.environ.get("BENCH_EVENTS", "50000"))
PAGE = 1000
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

# The backlog is contacts: one range of the feed's index (the API merges each type's range).
_RAW_PAGE = f"""
    SELECT position, resource, id::text, version, deleted, changed_at, event_type, data::text
    FROM records WHERE {RESOURCE_KEY} AND tenant_id = %s AND resource = %s AND position > %s
    ORDER BY position LIMIT %s
"""


class Page(msgspec.Struct):
    """What a syncing client needs of a page to go on; the items are checked as JSON but
    not turned into Python objects (a client hands them to its own storage)."""

    data: list[msgspec.Raw]
    next_cursor: str
    has_more: bool


def api_read(url: str, key: str) -> tuple[int, float]:
    """Changes/s of one client following next_cursor from the beginning.

    The client is the standard library's keep-alive `http.client`: the client runs on the
    same two cores as the API and PostgreSQL, one request at a time, so its own CPU is in
    the figure. httpx spent 2.1-2.4 ms of CPU on each 560 KB page here, http.client
    0.85-1.0 ms (the lean-client reasoning of bench/http_load.py). Its CPU per page is
    printed with each pass.
    """
    decoder = msgspec.json.Decoder(Page)
    seen = pages = 0
    cursor = None
    address = urlsplit(url)
    headers = {"Authorization": f"Bearer {key}"}
    connection = http.client.HTTPConnection(address.hostname or "", address.port)
    try:
        cpu, started = time.process_time(), time.monotonic()
        while True:
            query = urlencode({"limit": PAGE, **({"cursor": cursor} if cursor else {})})
            connection.request("GET", f"/v1/changes?{query}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /v1/changes answered {response.status}: {body[:200]!r}")
            page = decoder.decode(body)
            seen += len(page.data)
            pages += 1
            cursor = page.next_cursor
            if not page.has_more:
                elapsed = time.monotonic() - started
                client_cpu = (time.process_time() - cpu) / pages
                print(f"   (client CPU per page {client_cpu * 1e3:.2f} ms)", flush=True)
                return seen, seen / elapsed
    finally:
        connection.close()


def raw_read(env: BenchEnv, tenant_id: object) -> tuple[int, float]:
    """The same rows by keyset range scans, each page encoded as JSON."""
    encoder = msgspec.json.Encoder()
    seen = 0
    after = 0
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        started = time.monotonic()
        while True:
            rows = conn.execute(
                _RAW_PAGE,
                (tenant_id, "contact", tenant_id, "contact", after, PAGE),
                prepare=True,
            ).fetchall()
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
        runner = ProjectionRunner(runtime.app, runtime.pool, RecordsProjection())
        runner.ensure_tracking()
        runner.process_available()
        with runtime.pool.connection() as conn:
            # Statistics, as autovacuum would gather them: right after a bulk load the
            # planner knows nothing of the table's size and may choose a full scan.
            conn.execute("ANALYZE records")
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
