"""`syncline audit verify` (its checks: syncline.audit_verify), `syncline audit checkpoint`
and `syncline export`.

Exit statuses (docs/audit.md): 0 done (verify: every chain intact, possibly with events
not chained yet), 1 a chain does not verify (tampered: verify names the event, the
checkpoint or the kept checkpoint), 2 a usage, input/output or configuration error (an
unknown tenant, a bad cursor, a malformed public key, a kept-checkpoints file that cannot
be read, an output that cannot be written, a malformed SYNCLINE_AUDIT_SIGNING_KEY, a
database that cannot be reached), 3 an export that could not be completed (a gap in the
chain or an event that no longer decodes: run `syncline audit verify`, which tells
tampering from the rest).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from uuid import UUID

import msgspec

from projections.audit.checkpoints import ChainRewrittenError
from projections.audit.signing import InvalidSigningKeyError
from projections.audit.view import AuditView, ExportIncompleteError
from projections.changes.cursor import decode_change_cursor
from projections.cursor import InvalidCursorError
from syncline.audit_verify import (
    PUBLIC_KEYS_VARIABLE,
    TAMPERED,
    USAGE,
    InputError,
    kept_checkpoints,
    pinned_keys,
    tenant_known,
    verify,
)
from syncline.runtime import Runtime

__all__ = [
    "EXPORT_INCOMPLETE",
    "TAMPERED",
    "USAGE",
    "CommandError",
    "add_commands",
    "export",
    "reach_database",
    "verify",
]

EXPORT_INCOMPLETE = 3  # exit status: the export met a gap or an undecodable event
CONNECT_TIMEOUT = 5  # seconds a one-shot command waits for the database, once


class CommandError(Exception):
    """A one-shot command cannot run; the message says why (exit status USAGE)."""


def checkpoint(runtime: Runtime, *, stream: TextIO | None = None) -> int:
    """Sign every chain that moved since its last checkpoint, now."""
    out = stream or sys.stdout
    checkpointer = runtime.checkpointer()
    made = 0
    refused = 0
    for tenant in checkpointer.moved():
        try:
            items = checkpointer.checkpoint(tenant)
        except ChainRewrittenError as exc:
            print(f"syncline audit checkpoint: {exc}", file=sys.stderr)
            refused += 1
            continue
        for item in items:
            made += 1
            print(f"tenant {tenant}: checkpoint at sequence {item['sequence']}", file=out)
    print(f"{made} checkpoints signed with key {checkpointer.signer.key_id}", file=out)
    return TAMPERED if refused else 0


def export(
    runtime: Runtime,
    tenant: UUID,
    *,
    after: str | None = None,
    output: Path | None = None,
    stream: TextIO | None = None,
) -> int:
    """Write a tenant's NDJSON export to `output` (or stdout); the exit status. A file is
    written under a temporary name and renamed when the export is complete: an export that
    stops (a gap, an undecodable event) leaves no file."""
    err = stream or sys.stderr
    if not tenant_known(runtime, tenant):
        print(f"syncline export: no tenant {tenant}", file=err)
        return USAGE
    position = None
    if after is not None:
        try:
            position = decode_change_cursor(runtime.cursors, tenant, after)
        except InvalidCursorError as exc:
            print(f"syncline export: --after {exc}", file=err)
            return USAGE
    view = AuditView(runtime.pool)
    lines = view.export(runtime.cursors, tenant, app=runtime.app, after_position=position)
    try:
        if output is None:
            _write(lines, sys.stdout.buffer, view.head(tenant)[0])
            return 0
        _write_file(lines, output, view.head(tenant)[0])
    except ExportIncompleteError as exc:
        where = (
            "standard output holds only the lines before it"
            if output is None
            else (f"nothing written to {output}")
        )
        print(
            f"syncline export: {exc}; {where} (`syncline audit verify --tenant {tenant}`"
            " tells tampering from the rest)",
            file=err,
        )
        return EXPORT_INCOMPLETE
    except OSError as exc:
        print(f"syncline export: cannot write {output or 'standard output'}: {exc}", file=err)
        return USAGE
    return 0


def _write_file(lines: Iterator[bytes], output: Path, total: int) -> None:
    """Write to a temporary file next to `output`, renamed to it once complete."""
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{output.name}.", suffix=".partial", dir=output.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write(lines, file, total)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write(lines: Iterator[bytes], file: BinaryIO, total: int) -> None:
    """Write the lines, with a progress bar of the events written on standard error."""
    from tqdm import tqdm

    with tqdm(total=total, desc="export", unit=" events", file=sys.stderr) as bar:
        for line in lines:
            file.write(line)
            if line.startswith(b'{"export_start"'):
                bar.update(int(msgspec.json.decode(line)["export_start"]["sequence"]))
            elif not line.startswith(b'{"checkpoint"'):
                bar.update(1)
    file.flush()


def add_commands(sub: Any) -> dict[str, Callable[[argparse.Namespace, Any], int]]:
    """The commands' parsers; answers their handlers by name."""
    from syncline.cli import command_parser as parser  # cli imports this module first

    audit = parser(sub, "audit", "the tamper-evident audit chain: verify it, or sign it now")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    p = parser(
        audit_sub,
        "verify",
        "recompute every tenant's chain from the event store's own rows, check the stored"
        " hashes and every checkpoint's signature (with the keys you pin, else the"
        " database's), compare the checkpoints you kept, and count the events not chained"
        " yet; exit 0 when intact (even with events not chained yet), 1 naming the first"
        " event, the checkpoint or the kept checkpoint that does not match, 2 for an unknown"
        " tenant, a malformed key, an unreadable --kept file, or a configuration or"
        " database error",
    )
    p.add_argument(
        "--tenant",
        type=UUID,
        default=None,
        help="check this tenant only, and its kept checkpoints (all when not given)",
    )
    p.add_argument(
        "--public-key",
        dest="public_keys",
        metavar="KEY[,KEY2,...]",
        default=None,
        help="the public keys you trust, kept outside Syncline: base64 of the 32-byte"
        " Ed25519 key (as GET /v1/audit/public-key answers it), comma-separated; every"
        " checkpoint must be signed with one of them. Not given: "
        f"{PUBLIC_KEYS_VARIABLE}, else the keys the database holds (which whoever holds"
        " the database can replace)",
    )
    p.add_argument(
        "--kept",
        type=Path,
        metavar="FILE",
        default=None,
        help="checkpoints you kept outside Syncline, one a line (an export's checkpoint line,"
        " an audit.checkpoint webhook delivery, or a checkpoint of GET"
        " /v1/audit/checkpoints): each must verify, and the chain recomputed from the event"
        " store must reach its sequence with the chain hash it signed",
    )
    parser(
        audit_sub,
        "checkpoint",
        "sign the head of every chain that moved, now; exit 1 when a chain no longer has the"
        " hash its latest checkpoint signed (not signed)",
    )
    p = parser(
        sub,
        "export",
        "a tenant's events (each with its sequence and chain hash) and checkpoints as NDJSON,"
        " which docs/audit/verify_export.py checks without Syncline; exit 0 when complete,"
        " 2 for a bad argument, an output that cannot be written or a database error, 3 when"
        " the chain has a gap or an event no longer decodes (no file is left)",
    )
    p.add_argument(
        "--tenant",
        type=UUID,
        required=True,
        default=argparse.SUPPRESS,  # no "(default: None)" in the help of a required option
        help="the tenant to export (its id)",
    )
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


def reach_database(url: str) -> None:
    """One attempt of at most CONNECT_TIMEOUT seconds to connect; CommandError when it
    fails (a one-shot command says so and exits, where a server retries for as long as it
    takes)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CommandError(f"cannot reach the database: {reason}") from None


def open_runtime(settings: Any) -> Runtime:
    """The runtime of a one-shot command, which fails fast (CommandError) where a server
    would wait: one attempt to reach the database (reach_database), and a malformed
    SYNCLINE_AUDIT_SIGNING_KEY."""
    from syncline.database import resolve_database_url

    reach_database(resolve_database_url(settings.database_url, settings.data_dir))
    try:
        return Runtime.open(settings)
    except InvalidSigningKeyError as exc:
        raise CommandError(str(exc)) from None


def _run(name: str, settings: Any, command: Callable[[Runtime], int]) -> int:
    try:
        runtime = open_runtime(settings)
    except CommandError as exc:
        print(f"syncline {name}: {exc}", file=sys.stderr)
        return USAGE
    try:
        return command(runtime)
    finally:
        runtime.close()


def cmd_audit(args: argparse.Namespace, settings: Any) -> int:
    if args.audit_command == "verify":
        try:  # read before the database is reached: a bad argument fails fast
            pinned = pinned_keys(args.public_keys, settings.audit_public_keys)
            kept = kept_checkpoints(args.kept)
        except InputError as exc:
            print(f"syncline audit verify: {exc}", file=sys.stderr)
            return USAGE
        return _run(
            "audit verify",
            settings,
            lambda runtime: verify(runtime, args.tenant, pinned=pinned, kept=kept),
        )
    return _run("audit checkpoint", settings, checkpoint)


def cmd_export(args: argparse.Namespace, settings: Any) -> int:
    # Before the export runs, not after: its file is written next to `--output`.
    output = args.output
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        why = "it is a directory" if output.is_dir() else f"no directory {output.parent}"
        print(f"syncline export: cannot write {output}: {why}", file=sys.stderr)
        return USAGE
    return _run(
        "export",
        settings,
        lambda runtime: export(runtime, args.tenant, after=args.after, output=args.output),
    )
