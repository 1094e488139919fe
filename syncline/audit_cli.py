"""`syncline audit verify`, `syncline audit checkpoint` and `syncline export`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from projections.audit.verify import ChainVerifier, Report
from projections.audit.view import AuditView
from projections.changes.cursor import decode_change_cursor
from projections.cursor import InvalidCursorError
from syncline.runtime import Runtime

UNKNOWN_TENANT = 2  # exit status: no such tenant, or bad arguments
TAMPERED = 1


def tenant_known(runtime: Runtime, tenant: UUID) -> bool:
    """Whether the tenant exists (or ever had a chain)."""
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM tenants WHERE id = %s)"
            " OR EXISTS (SELECT FROM audit_heads WHERE tenant_id = %s)",
            (tenant, tenant),
        ).fetchone()
    return bool(row and row[0])


def verify(runtime: Runtime, tenant: UUID | None = None, *, stream: TextIO | None = None) -> int:
    """Recompute the chains from the event store and check them; the exit status."""
    from tqdm import tqdm

    out = stream or sys.stdout
    if tenant is not None and not tenant_known(runtime, tenant):
        print(f"syncline audit verify: no tenant {tenant}", file=out)
        return UNKNOWN_TENANT
    bar: list[tqdm[Any]] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc="audit verify", unit=" events", file=sys.stderr))
        bar[0].update(done - bar[0].n)

    try:
        report = ChainVerifier(runtime.app, runtime.pool).verify(tenant, progress=progress)
    finally:
        for b in bar:
            b.close()
    return summarize(report, out)


def summarize(report: Report, out: TextIO) -> int:
    for problem in report.undecodable:
        print(f"note: {problem}", file=out)
    for check in sorted(report.tenants.values(), key=lambda c: c.tenant_id):
        if check.mismatch is None:
            print(
                f"ok: tenant {check.tenant_id}: {check.verified} events,"
                f" {check.checkpoints} checkpoints verified",
                file=out,
            )
        else:
            print(
                f"TAMPERED: tenant {check.tenant_id}: {check.mismatch.describe()}"
                f" (intact through sequence {check.verified})",
                file=out,
            )
    return 0 if report.intact else TAMPERED


def checkpoint(runtime: Runtime, *, stream: TextIO | None = None) -> int:
    """Sign every chain that moved since its last checkpoint, now."""
    out = stream or sys.stdout
    checkpointer = runtime.checkpointer()
    made = 0
    for tenant in checkpointer.moved():
        for item in checkpointer.checkpoint(tenant):
            made += 1
            print(f"tenant {tenant}: checkpoint at sequence {item['sequence']}", file=out)
    print(f"{made} checkpoints signed with key {checkpointer.signer.key_id}", file=out)
    return 0


def export(
    runtime: Runtime,
    tenant: UUID,
    *,
    after: str | None = None,
    output: Path | None = None,
    stream: TextIO | None = None,
) -> int:
    """Write a tenant's NDJSON export to `output` (or stdout); the exit status."""
    err = stream or sys.stderr
    if not tenant_known(runtime, tenant):
        print(f"syncline export: no tenant {tenant}", file=err)
        return UNKNOWN_TENANT
    position = None
    if after is not None:
        try:
            position = decode_change_cursor(runtime.cursors, tenant, after)
        except InvalidCursorError as exc:
            print(f"syncline export: --after {exc}", file=err)
            return UNKNOWN_TENANT
    lines = AuditView(runtime.pool).export(
        runtime.cursors, tenant, app=runtime.app, after_position=position
    )
    if output is None:
        for line in lines:
            sys.stdout.buffer.write(line)
        sys.stdout.flush()
        return 0
    with output.open("wb") as file:
        for line in lines:
            file.write(line)
    return 0


def add_commands(sub: Any) -> dict[str, Callable[[argparse.Namespace, Any], int]]:
    """The commands' parsers; answers their handlers by name."""
    from syncline.cli import command_parser as parser  # cli imports this module first

    audit = parser(sub, "audit", "the tamper-evident audit chain: verify it, or sign it now")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    p = parser(
        audit_sub,
        "verify",
        "recompute every tenant's chain from the event store's own rows, check the stored"
        " hashes and every checkpoint's signature; exit 0 when intact, 1 naming the first"
        " event that does not match, 2 for an unknown tenant",
    )
    p.add_argument(
        "--tenant", type=UUID, default=None, help="check this tenant only (all when not given)"
    )
    parser(audit_sub, "checkpoint", "sign the head of every chain that moved, now")
    p = parser(
        sub,
        "export",
        "a tenant's events (each with its sequence and chain hash) and checkpoints as NDJSON,"
        " which docs/audit/verify_export.py checks without Syncline",
    )
    p.add_argument("--tenant", type=UUID, required=True, help="the tenant to export (its id)")
    p.add_argument(
        "--after",
        default=None,
        help="a cursor: only events after it (the export then starts with the sequence and"
        " chain hash before them); from the beginning when not given",
    )
    p.add_argument(
        "--output", type=Path, default=None, help="file to write (standard output when not given)"
    )
    return {"audit": cmd_audit, "export": cmd_export}


def cmd_audit(args: argparse.Namespace, settings: Any) -> int:
    runtime = Runtime.open(settings)
    try:
        if args.audit_command == "verify":
            return verify(runtime, args.tenant)
        return checkpoint(runtime)
    finally:
        runtime.close()


def cmd_export(args: argparse.Namespace, settings: Any) -> int:
    runtime = Runtime.open(settings)
    try:
        return export(runtime, args.tenant, after=args.after, output=args.output)
    finally:
        runtime.close()
