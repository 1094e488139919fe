#!/usr/bin/env python3
"""Verify a Syncline audit export without Syncline.

    python verify_export.py EXPORT.ndjson PUBLIC_KEY_BASE64[,PUBLIC_KEY_BASE64...]
        [--tenant TENANT_ID] [--require-checkpoint] [--kept KEPT.ndjson]

Needs only the Python standard library, `cryptography` and `rfc8785`
(`pip install cryptography rfc8785`). Checks that every event line's `chain_hash` is
SHA-256(previous chain hash || RFC 8785 JSON of the envelope without `cursor`, `sequence`
and `chain_hash`), that sequences run 1, 2, 3, ... (or on from the `export_start` line),
that every line is of one tenant (with --tenant, of that one), and that every checkpoint's
Ed25519 signature verifies with one of the given public keys and signs the chain hash the
export has at its sequence (a checkpoint line may come before or after its event). Give
every key you trust (GET /v1/audit/keys lists every key ever used); a checkpoint names its
key by `key_id`.

A chain cut short is still a valid chain: only a checkpoint shows where it reached when
signed. The summary says how many events come after the last checkpoint (signed by
nothing in this export); --require-checkpoint rejects an export that has any, and an
empty one (no event, no checkpoint). Checkpoints
you kept from earlier (webhook deliveries of `audit.checkpoint`, earlier exports) catch a
rewrite the database's own checkpoints cannot: --kept FILE checks that the export has, at
each one's sequence, the chain hash it signed (see docs/audit.md).

Exit status: 0 when everything verifies; 1 naming the first line that does not (or, with
--require-checkpoint, when events follow the last checkpoint or the export is empty); 2 for
a bad argument (an unreadable file or one that is not UTF-8, a malformed key).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)
NOT_HASHED = ("cursor", "sequence", "chain_hash")  # the export's additions to the envelope


class Rejected(Exception):
    """The export does not verify; the message names the line."""


def key_id(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def parse_keys(text: str) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for number, part in enumerate(text.split(","), 1):
        try:
            raw = base64.b64decode(part.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"public key {number} is not base64") from None
        if len(raw) != 32:
            raise ValueError(f"public key {number} is {len(raw)} bytes; Ed25519 keys are 32")
        keys[key_id(raw)] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def checkpoint_message(point: dict[str, Any]) -> bytes:
    return (
        f"syncline-checkpoint:v1:{point['tenant_id']}:{point['sequence']}"
        f":{point['chain_hash']}:{point['signed_at']}"
    ).encode()


class Unreadable(Exception):
    """The file cannot be read as UTF-8 text (exit status 2)."""


def lines_of(path: str) -> Iterator[tuple[int, str]]:
    """The file's numbered lines, decoded as UTF-8 (Unreadable naming the first that is not)."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Unreadable(f"line {number} is not UTF-8 ({exc.reason})") from None


def wanted_sequences(path: str) -> set[int]:
    """The sequences the export's checkpoints sign (a first, quick pass)."""
    wanted = set()
    for _, line in lines_of(path):
        if line.startswith('{"checkpoint"'):
            with contextlib.suppress(ValueError, KeyError, TypeError):  # named later
                wanted.add(int(json.loads(line)["checkpoint"]["sequence"]))
    return wanted


class Checks:
    """What the export showed so far: its chain, tenant, and checkpoints."""

    def __init__(self, keys: dict[str, Ed25519PublicKey], tenant: str | None) -> None:
        self.keys = keys
        self.tenant = tenant  # every line's tenant (the one given, or the first line's)
        self.sequence = 0
        self.previous = GENESIS
        self.first: int | None = None
        self.events = self.checkpoints = 0
        self.hashes: dict[int, str] = {}  # chain hash at each checkpointed sequence
        self.ahead: dict[int, tuple[str, str]] = {}  # checkpoints before their event
        self.signed = 0  # the highest sequence a verified checkpoint signs

    def same_tenant(self, name: str, tenant: Any, what: str) -> None:
        if self.tenant is None:
            self.tenant = str(tenant)
        elif tenant != self.tenant:
            raise Rejected(f"{name}: {what} of another tenant ({self.tenant} expected)")


def kept_checkpoints(path: str) -> list[tuple[str, dict[str, Any]]]:
    """Checkpoints kept outside Syncline, one a line: an export's `{"checkpoint": {...}}`
    line, an `audit.checkpoint` event as a webhook delivered it (the checkpoint is its
    `data`), or the checkpoint object itself (as GET /v1/audit/checkpoints lists them)."""
    kept = []
    for number, line in lines_of(path):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            document = json.loads(line)
            point = document.get("checkpoint") or document.get("data") or document
            if not isinstance(point["chain_hash"], str) or not point["tenant_id"]:
                raise TypeError
            int(point["sequence"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Rejected(f"{where}: not a checkpoint") from None
        kept.append((where, point))
    return kept


def compare_kept(checks: Checks, kept: list[tuple[str, dict[str, Any]]]) -> int:
    """Check each kept checkpoint's signature and that the export has, at its sequence,
    the chain hash it signed; the number compared."""
    compared = 0
    for where, point in kept:
        sequence = int(point["sequence"])
        name = f"kept checkpoint at sequence {sequence} ({where})"
        verify_signature(name, point, checks.keys)
        if point["tenant_id"] != checks.tenant:
            raise Rejected(f"{name}: of tenant {point['tenant_id']}, not the export's")
        if sequence > checks.sequence:
            raise Rejected(
                f"{name}: the export ends at sequence {checks.sequence}: events this"
                " checkpoint signed are missing (history was cut short)"
            )
        if sequence not in checks.hashes:
            continue  # before the export's start: an export from the beginning checks it
        if checks.hashes[sequence] != point["chain_hash"]:
            raise Rejected(
                f"{name}: the export's chain hash at sequence {sequence} differs from the"
                " one this checkpoint signed: history up to it was rewritten"
            )
        compared += 1
    return compared


def verify(
    path: str,
    keys: dict[str, Ed25519PublicKey],
    *,
    tenant: str | None = None,
    require_checkpoint: bool = False,
    kept: list[tuple[str, dict[str, Any]]] | None = None,
) -> str:
    """Check the export (and that it has the chain hash each `kept` checkpoint signed);
    the summary, or Rejected naming the first bad line."""
    kept = kept or []
    wanted = wanted_sequences(path) | {int(point["sequence"]) for _, point in kept}
    checks = Checks(keys, tenant)
    blank = None  # the first blank line: accepted at the end only
    for number, line in lines_of(path):
        where = f"line {number}"
        if not line.strip():
            blank = blank or number
            continue
        if blank is not None:
            raise Rejected(f"line {blank}: a blank line before the end of the export")
        try:
            document = json.loads(line)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise Rejected(f"{where}: not a JSON object ({exc})") from None
        try:
            if "export_start" in document:
                if number != 1:
                    raise Rejected(f"{where}: export_start must be the first line")
                start = document["export_start"]
                checks.same_tenant(where, start["tenant_id"], "an export")
                checks.sequence = int(start["sequence"])
                checks.previous = bytes.fromhex(start["chain_hash"])
                if checks.sequence in wanted:
                    checks.hashes[checks.sequence] = checks.previous.hex()
            elif "checkpoint" in document:
                check_checkpoint(where, document["checkpoint"], checks)
            else:
                check_event(where, dict(document), checks, wanted)
        except Rejected:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise Rejected(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    for sequence, (name, _) in sorted(checks.ahead.items())[:1]:
        raise Rejected(f"{name}: its sequence {sequence} is not among the exported events")
    text = summary(checks, require_checkpoint)
    if kept:
        compared = compare_kept(checks, kept)
        text += f"; {compared} of {len(kept)} kept checkpoints match the export"
    return text


def check_event(where: str, envelope: dict[str, Any], checks: Checks, wanted: set[int]) -> None:
    claimed = int(envelope["sequence"])
    chain_hash = str(envelope["chain_hash"])
    name = f"{where} ({envelope['id']}, sequence {claimed})"
    if claimed != checks.sequence + 1:
        raise Rejected(
            f"{name}: sequence {checks.sequence + 1} expected: an event is missing,"
            " repeated or out of order"
        )
    checks.same_tenant(name, envelope["tenant_id"], "an event")
    for member in NOT_HASHED:
        envelope.pop(member, None)
    checks.previous = hashlib.sha256(checks.previous + rfc8785.dumps(envelope)).digest()
    if checks.previous.hex() != chain_hash:
        raise Rejected(
            f"{name}: chain hash does not match: this event, or one before it, was changed"
        )
    checks.sequence = claimed
    checks.first = checks.first or claimed
    checks.events += 1
    if claimed in wanted:
        checks.hashes[claimed] = chain_hash
    if claimed in checks.ahead:  # a checkpoint line came before this event
        point_where, signed = checks.ahead.pop(claimed)
        if signed != chain_hash:
            raise Rejected(
                f"{point_where} (checkpoint at sequence {claimed}): it signed another chain"
                " hash than the export's"
            )


def summary(checks: Checks, require_checkpoint: bool) -> str:
    events, sequence = checks.events, checks.sequence
    span = f"sequences {checks.first}-{sequence}" if events else "no events"
    text = f"OK: {events} events ({span}), {checks.checkpoints} checkpoints verified"
    unsigned = min(sequence - checks.signed, events)
    if not events and not checks.checkpoints:
        # An empty file (or one with an `export_start` line alone) shows nothing: it must
        # not pass for a signed export.
        note = "the export is empty: nothing in it is signed"
        if require_checkpoint:
            raise Rejected(f"{note} (--require-checkpoint)")
        text += f"; {note}"
    elif unsigned > 0:
        if checks.checkpoints:
            note = (
                f"{unsigned} events after the last checkpoint (sequence {checks.signed})"
                " are not signed yet"
            )
        else:
            note = f"no checkpoint: none of the {events} events is signed"
        if require_checkpoint:
            raise Rejected(f"{note} (--require-checkpoint)")
        text += f"; {note}"
    return text


def verify_signature(name: str, point: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> None:
    candidates = [keys[point["key_id"]]] if point.get("key_id") in keys else list(keys.values())
    try:
        signature = base64.b64decode(point["signature"], validate=True)
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Rejected(f"{name}: its signature is not base64") from None
    for key in candidates:
        try:
            key.verify(signature, checkpoint_message(point))
            return
        except InvalidSignature:
            continue
    raise Rejected(f"{name}: the signature does not verify with the given key(s)")


def check_checkpoint(where: str, point: dict[str, Any], checks: Checks) -> None:
    sequence = int(point["sequence"])
    name = f"{where} (checkpoint at sequence {sequence})"
    checks.same_tenant(name, point["tenant_id"], "a checkpoint")
    verify_signature(name, point, checks.keys)
    if sequence > checks.sequence:  # its event comes later (or never: named at the end)
        checks.ahead.setdefault(sequence, (where, str(point["chain_hash"])))
    elif sequence not in checks.hashes:
        raise Rejected(f"{name}: its sequence is not among the exported events")
    elif checks.hashes[sequence] != point["chain_hash"]:
        raise Rejected(f"{name}: it signed another chain hash than the export's")
    checks.checkpoints += 1
    checks.signed = max(checks.signed, sequence)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_export.py", description="Verify a Syncline audit export offline."
    )
    parser.add_argument("export", help="the NDJSON export")
    parser.add_argument("keys", help="the trusted public keys: base64, comma-separated")
    parser.add_argument("--tenant", default=None, help="every line must be this tenant's")
    parser.add_argument(
        "--require-checkpoint",
        action="store_true",
        help="reject an export whose last events no checkpoint signs",
    )
    parser.add_argument(
        "--kept",
        metavar="FILE",
        default=None,
        help="checkpoints you kept (webhook deliveries, earlier exports), one a line: the"
        " export must have the chain hash each signed, at its sequence",
    )
    args = parser.parse_args(argv[1:])  # exit status 2 for bad arguments
    try:
        keys = parse_keys(args.keys)
    except ValueError as exc:
        print(f"REJECTED: {exc}", file=sys.stderr)
        return 2
    try:
        kept = kept_checkpoints(args.kept) if args.kept else []
    except (OSError, Unreadable, Rejected) as exc:
        print(f"REJECTED: cannot read {args.kept}: {exc}", file=sys.stderr)
        return 2
    try:
        print(
            verify(
                args.export,
                keys,
                tenant=args.tenant,
                require_checkpoint=args.require_checkpoint,
                kept=kept,
            )
        )
    except (OSError, Unreadable) as exc:
        print(f"REJECTED: cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    except Rejected as exc:
        print(f"REJECTED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
