"""`syncline audit verify`: every chain recomputed from the event store's own rows and
compared with the recorded chain, every checkpoint's signature checked (with the keys the
auditor pins, else the database's), and the checkpoints the auditor kept outside Syncline
compared with the recomputed chains (docs/audit.md, "Verification").

Exit statuses: 0 intact (even with events not chained yet), 1 tampered (`TAMPERED: …`
lines: a chain, a checkpoint signed by a key not pinned, a kept checkpoint that does not
match), 2 a usage or configuration error (syncline.audit_cli).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from projections.audit.report import Report, TenantCheck
from projections.audit.trust import (
    KeptCheckpoint,
    KeptFileError,
    MalformedKeyError,
    kept_problem,
    parse_public_keys,
    read_kept,
)
from projections.audit.verify import ChainVerifier
from syncline.runtime import Runtime

TAMPERED = 1  # exit status: a chain, a checkpoint or a kept checkpoint does not verify
USAGE = 2  # exit status: bad arguments (an unknown tenant), input/output or configuration
PUBLIC_KEYS_VARIABLE = "SYNCLINE_AUDIT_PUBLIC_KEYS"


class InputError(Exception):
    """An argument of `audit verify` cannot be used; the message says which and why."""


@dataclass(frozen=True)
class PinnedKeys:
    """The public keys the auditor trusts, by key_id, and where they were given."""

    keys: dict[str, Ed25519PublicKey]
    source: str  # "--public-key" or PUBLIC_KEYS_VARIABLE


def pinned_keys(option: str | None, variable: str | None) -> PinnedKeys | None:
    """The keys of `--public-key`, else of SYNCLINE_AUDIT_PUBLIC_KEYS, else None (the
    database's are used); InputError for a malformed one."""
    for text, source in ((option, "--public-key"), (variable, PUBLIC_KEYS_VARIABLE)):
        if text is None:
            continue
        try:
            return PinnedKeys(parse_public_keys(text), source)
        except MalformedKeyError as exc:
            raise InputError(f"{source}: {exc}") from None
    return None


def kept_checkpoints(path: Path | None) -> list[KeptCheckpoint] | None:
    """The checkpoints of `--kept FILE` (None without it); InputError when unreadable."""
    if path is None:
        return None
    try:
        return read_kept(path)
    except KeptFileError as exc:
        raise InputError(f"--kept {path}: {exc}") from None


def tenant_known(runtime: Runtime, tenant: UUID | str) -> bool:
    """Whether the tenant exists (or ever had a chain)."""
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM tenants WHERE id = %s)"
            " OR EXISTS (SELECT FROM audit_heads WHERE tenant_id = %s)",
            (tenant, tenant),
        ).fetchone()
    return bool(row and row[0])


def verify(
    runtime: Runtime,
    tenant: UUID | None = None,
    *,
    stream: TextIO | None = None,
    pinned: PinnedKeys | None = None,
    kept: Sequence[KeptCheckpoint] | None = None,
) -> int:
    """Recompute the chains from the event store and check them, and the kept
    checkpoints (of `tenant` only, when given); the exit status."""
    from tqdm import tqdm

    out = stream or sys.stdout
    if tenant is not None and not tenant_known(runtime, tenant):
        print(f"syncline audit verify: no tenant {tenant}", file=sys.stderr)
        return USAGE
    compared = [k for k in kept or () if tenant is None or k.tenant_id == str(tenant)]
    wanted: dict[str, set[int]] = defaultdict(set)
    for point in compared:
        wanted[point.tenant_id].add(point.sequence)
    bar: list[tqdm[Any]] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc="audit verify", unit=" events", file=sys.stderr))
        bar[0].update(done - bar[0].n)

    try:
        report = ChainVerifier(runtime.app, runtime.pool).verify(
            tenant,
            progress=progress,
            unchained=True,
            keys=pinned.keys if pinned is not None else None,
            wanted=wanted,
        )
    finally:
        for b in bar:
            b.close()
    status = summarize(report, out)
    known: dict[str, bool] = {}

    def exists(tenant_id: str) -> bool:
        if tenant_id not in known:
            known[tenant_id] = tenant_known(runtime, tenant_id)
        return known[tenant_id]

    matching = 0
    for point in compared:
        problem = kept_problem(point, report, exists)
        if problem is None:
            matching += 1
        else:
            print(f"TAMPERED: {point.describe()} ({point.where}): {problem}", file=out)
            status = TAMPERED
    if kept is not None:  # said even of a file that holds none: it compared nothing
        skipped = len(kept) - len(compared)
        others = f"; {skipped} of other tenants skipped (--tenant)" if skipped else ""
        others += "; the file holds none" if not kept else ""
        print(
            f"kept: {matching} of {len(compared)} kept checkpoints match the chains"
            f" recomputed from the event store{others}",
            file=out,
        )
    print(_keys_note(report, pinned), file=out)
    return status


def summarize(report: Report, out: TextIO) -> int:
    """One line per tenant (`ok: …` or `TAMPERED: …`); the exit status of the chains."""
    for problem in report.undecodable:
        print(f"note: {problem}", file=out)
    for check in sorted(report.tenants.values(), key=lambda c: c.tenant_id):
        if check.mismatch is None:
            print(
                f"ok: tenant {check.tenant_id}: {check.verified} events,"
                f" {check.checkpoints} checkpoints verified{_unchained(report, check)}",
                file=out,
            )
        else:
            print(
                f"TAMPERED: tenant {check.tenant_id}: {check.mismatch.describe()}"
                f" (intact through sequence {check.verified}){_unchained(report, check)}",
                file=out,
            )
    return 0 if report.intact else TAMPERED


def _unchained(report: Report, check: TenantCheck) -> str:
    """The note on events stored but not chained yet (the audit projection is behind)."""
    if not check.unchained:
        return ""
    events = "1 event" if check.unchained == 1 else f"{check.unchained} events"
    are = "is" if check.unchained == 1 else "are"
    return (
        f"; {events} written after position {report.tracked} {are} not chained yet"
        " (not verified: the audit projection is behind)"
    )


def _keys_note(report: Report, pinned: PinnedKeys | None) -> str:
    """Which keys the checkpoints were held to, and where they came from."""
    trusted = f"keys trusted: {', '.join(sorted(report.keys)) or 'none'}"
    if pinned is not None:
        return f"note: checkpoints verified with the keys pinned by {pinned.source} ({trusted})"
    return (
        "note: checkpoints verified with keys read from the database; pin yours with"
        f" --public-key ({trusted})"
    )
