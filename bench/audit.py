"""Audit: `audit verify` throughput beside its raw limit, and the export's rate and memory.

Verification reads every stored event from PostgreSQL, decodes it, renders its envelope,
canonicalises it (RFC 8785), hashes it into its tenant's chain and compares with the
recorded chain, then checks the checkpoints. Its raw limit is the same rows read the same
way with the same decoder, canonicalised with `rfc8785` and hashed, in one tight loop in
this process: what verification cannot beat. The export is run in a process of its own,
to measure its peak resident memory.

That peak is the process's own high-water mark (`VmHWM`), not `ru_maxrss`: on Linux
`ru_maxrss` survives fork and exec, and exec records in it the peak of the address space it
replaces, which is the parent's (or a copy of it). It reported this benchmark process's
memory (the larger, the more scenarios ran before in it) whenever that exceeded the export's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Any
from uuid import UUID, uuid4

import rfc8785
from psycopg import sql

from bench.backlog import append_contacts, open_runtime
from bench.harness import ROOT, BenchEnv, Figure
from domain.envelope import envelope
from domain.events import public_type
from projections.audit.chain import GENESIS
from projections.audit.projection import AuditChainProjection
from projections.audit.verify import ChainVerifier
from projections.event_decoder import EventDecoder
from projections.events.projection import EventLogProjection
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime

# Events in the log (one tenant: the export's 200,000 and verification's at least 100,000).
EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "200000"))


def raw_limit(runtime: Runtime) -> float:
    """Events/s of read + decode + canonicalise + hash over the same rows, nothing else."""
    recorder: Any = runtime.app.recorder
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    decoder = EventDecoder(runtime.app.mapper)
    chains: dict[str, bytes] = {}
    count = 0
    started = time.monotonic()
    with runtime.pool.connection() as conn, conn.transaction(), conn.cursor(name="raw") as cur:
        cur.itersize = 2000
        cur.execute(
            sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {}"
                " ORDER BY notification_id"
            ).format(table)
        )
        for originator_id, version, topic, state in cur:
            event = decoder.decode(originator_id, version, topic, bytes(state))
            event_type = public_type(event)
            if event_type is None:
                continue
            public = envelope(event, event_type, "")
            del public["cursor"]
            tenant = public["tenant_id"]
            chains[tenant] = hashlib.sha256(
                chains.get(tenant, GENESIS) + rfc8785.dumps(public)
            ).digest()
            count += 1
    return count / (time.monotonic() - started)


def peak_resident_kib() -> int:
    """This process's peak resident memory since it started (KiB): `VmHWM`, the high-water
    mark of its own address space. Where there is no /proc, `ru_maxrss`, which may include
    the parent's memory (see the module's docstring)."""
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, else KiB


def export_child(database_url: str, tenant: str) -> None:
    """Run in a process of its own: export the tenant to /dev/null; print rate and peak RSS."""
    from projections.audit.view import AuditView
    from syncline.config import Settings

    runtime = Runtime.open(Settings(database_url=database_url))
    before = peak_resident_kib()
    lines = 0
    started = time.monotonic()
    with open(os.devnull, "wb") as sink:
        for line in AuditView(runtime.pool).export(runtime.cursors, UUID(tenant), app=runtime.app):
            sink.write(line)
            lines += 1
    seconds = time.monotonic() - started
    peak = peak_resident_kib()
    runtime.close()
    print(json.dumps({"lines": lines, "seconds": seconds, "peak_kib": peak, "start_kib": before}))


def run(env: BenchEnv) -> list[Figure]:
    runtime = open_runtime(env)
    try:
        tenant = uuid4()
        append_contacts(runtime, [tenant], EVENTS)
        for projection in (AuditChainProjection(), EventLogProjection()):
            runner = ProjectionRunner(runtime.app, runtime.pool, projection)
            runner.ensure_tracking()
            runner.process_available()
        runtime.checkpointer().checkpoint(tenant)  # one checkpoint event: chain it too
        ProjectionRunner(runtime.app, runtime.pool, AuditChainProjection()).process_available()
        started = time.monotonic()
        report = ChainVerifier(runtime.app, runtime.pool).verify()
        verify_rate = report.tenants[str(tenant)].verified / (time.monotonic() - started)
        assert report.intact, "the benchmark's chain does not verify"
        limit = raw_limit(runtime)
    finally:
        runtime.close()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.audit import export_child;"
            " export_child(sys.argv[1], sys.argv[2])",
            env.database_url,
            str(tenant),
        ],
        cwd=ROOT,
        env=env.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    return [
        Figure(
            f"audit verify ({EVENTS:,} events)",
            verify_rate,
            "events/s",
            "read + decode + rfc8785 + sha256, tight loop",
            limit,
            target=">= 0.5",
        ),
        Figure(f"export ({EVENTS:,} events)", measured["lines"] / measured["seconds"], "lines/s"),
        Figure(
            f"export peak resident memory ({EVENTS:,} events)",
            measured["peak_kib"] / 1024,
            "MB",
            target="< 200",
        ),
    ]
