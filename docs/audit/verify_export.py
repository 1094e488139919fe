#!/usr/bin/env python3
"""Verify a Syncline audit export without Syncline.

    python verify_export.py EXPORT.ndjson PUBLIC_KEY_BASE64[,PUBLIC_KEY_BASE64...]

Needs only the Python standard library, `cryptography` and `rfc8785`
(`pip install cryptography rfc8785`). Checks that every event line's `chain_hash` is
SHA-256(previous chain hash || RFC 8785 JSON of the envelope without `cursor`, `sequence`
and `chain_hash`), that sequences run 1, 2, 3, ... (or on from the `export_start` line),
and that every checkpoint's Ed25519 signature verifies with one of the given public keys
and signs the chain hash the export has at its sequence. Give every key you trust (GET
/v1/audit/keys lists every key ever used); a checkpoint names its key by `key_id`.

Exit status: 0 when everything verifies; 1 naming the first line that does not; 2 for a
bad argument (an unreadable file, a malformed key).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import sys
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


def wanted_sequences(path: str) -> set[int]:
    """The sequences the export's checkpoints sign (a first, quick pass)."""
    wanted = set()
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.startswith('{"checkpoint"'):
                with contextlib.suppress(ValueError, KeyError, TypeError):  # named later
                    wanted.add(int(json.loads(line)["checkpoint"]["sequence"]))
    return wanted


def verify(path: str, keys: dict[str, Ed25519PublicKey]) -> str:
    """Check the export; the summary, or Rejected naming the first bad line."""
    wanted = wanted_sequences(path)
    hashes: dict[int, str] = {}  # chain hash at each checkpointed sequence
    sequence, previous, first, tenant = 0, GENESIS, None, None
    events = checkpoints = 0
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            where = f"line {number}"
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
                    sequence, tenant = int(start["sequence"]), start["tenant_id"]
                    previous = bytes.fromhex(start["chain_hash"])
                    if sequence in wanted:
                        hashes[sequence] = previous.hex()
                elif "checkpoint" in document:
                    point = document["checkpoint"]
                    check_checkpoint(where, point, keys, hashes, tenant)
                    checkpoints += 1
                else:
                    envelope = dict(document)
                    claimed = int(envelope["sequence"])
                    chain_hash = str(envelope["chain_hash"])
                    name = f"{where} ({envelope['id']}, sequence {claimed})"
                    if claimed != sequence + 1:
                        raise Rejected(
                            f"{name}: sequence {sequence + 1} expected: an event is missing,"
                            " repeated or out of order"
                        )
                    if tenant is None:
                        tenant = envelope["tenant_id"]
                    elif envelope["tenant_id"] != tenant:
                        raise Rejected(f"{name}: an event of another tenant ({tenant} expected)")
                    for member in NOT_HASHED:
                        envelope.pop(member, None)
                    previous = hashlib.sha256(previous + rfc8785.dumps(envelope)).digest()
                    if previous.hex() != chain_hash:
                        raise Rejected(
                            f"{name}: chain hash does not match: this event, or one before"
                            " it, was changed"
                        )
                    sequence = claimed
                    first = first or claimed
                    events += 1
                    if claimed in wanted:
                        hashes[claimed] = chain_hash
            except Rejected:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise Rejected(f"{where}: malformed ({type(exc).__name__}: {exc})") from None
    span = f"sequences {first}-{sequence}" if events else "no events"
    summary = f"OK: {events} events ({span}), {checkpoints} checkpoints verified"
    if not checkpoints:
        summary += " (no checkpoint: nothing in this export is signed)"
    return summary


def check_checkpoint(
    where: str,
    point: dict[str, Any],
    keys: dict[str, Ed25519PublicKey],
    hashes: dict[int, str],
    tenant: str | None,
) -> None:
    sequence = int(point["sequence"])
    name = f"{where} (checkpoint at sequence {sequence})"
    if tenant is not None and point["tenant_id"] != tenant:
        raise Rejected(f"{name}: a checkpoint of another tenant")
    candidates = [keys[point["key_id"]]] if point.get("key_id") in keys else list(keys.values())
    signature = base64.b64decode(point["signature"], validate=True)
    for key in candidates:
        try:
            key.verify(signature, checkpoint_message(point))
            break
        except InvalidSignature:
            continue
    else:
        raise Rejected(f"{name}: the signature does not verify with the given key(s)")
    if sequence not in hashes:
        raise Rejected(f"{name}: its sequence is not among the exported events")
    if hashes[sequence] != point["chain_hash"]:
        raise Rejected(f"{name}: it signed another chain hash than the export's")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        keys = parse_keys(argv[2])
    except ValueError as exc:
        print(f"REJECTED: {exc}", file=sys.stderr)
        return 2
    try:
        print(verify(argv[1], keys))
    except OSError as exc:
        print(f"REJECTED: cannot read {argv[1]}: {exc}", file=sys.stderr)
        return 2
    except Rejected as exc:
        print(f"REJECTED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
