"""What an auditor trusts rather than the database: the public keys they hold and the
checkpoints they kept outside Syncline (docs/audit.md, "Verification").

Keys and kept checkpoints are written in the forms docs/audit/verify_export.py reads. That
script reads them with code of its own, since it must run without Syncline (standard
library, `cryptography` and `rfc8785` only); tests/unit/test_audit_trust.py holds both to
the same answers on the same inputs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.audit import checkpoint_message
from projections.audit.report import Report

KEY_BYTES = 32


def key_id(public_key: bytes) -> str:
    """A key's name: `ed25519:` and the first 16 hex digits of SHA-256 of its 32 bytes."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


class MalformedKeyError(ValueError):
    """A public key given is not the base64 of 32 bytes; the message says which."""


def parse_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Comma-separated base64 Ed25519 public keys (as GET /v1/audit/public-key answers
    them), by key_id."""
    keys = {}
    for number, part in enumerate(text.split(","), 1):
        try:
            raw = base64.b64decode(part.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedKeyError(f"public key {number} is not base64") from None
        if len(raw) != KEY_BYTES:
            raise MalformedKeyError(
                f"public key {number} is {len(raw)} bytes; Ed25519 keys are {KEY_BYTES}"
            )
        keys[key_id(raw)] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def signature_problem(
    point: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey], trusted: str
) -> str | None:
    """None when the checkpoint's signature verifies with the key its `key_id` names,
    which must be among `keys` (`trusted` names them in words); else what is wrong with
    the checkpoint's key or signature ("signature does not verify with key …")."""
    named = point.get("key_id")
    key = keys.get(str(named))
    if key is None:
        return f"key {named} is not among {trusted} (signed by another key)"
    try:
        signature = base64.b64decode(point["signature"], validate=True)
    except (binascii.Error, ValueError, KeyError, TypeError):
        return "signature is not base64 (signature invalid)"
    message = checkpoint_message(
        str(point["tenant_id"]),
        int(point["sequence"]),
        str(point["chain_hash"]),
        str(point["signed_at"]),
    )
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return f"signature does not verify with key {named} (signature invalid)"
    return None


class KeptFileError(Exception):
    """The kept checkpoints cannot be read: the file, a line that is not UTF-8 or not a
    checkpoint; the message says which."""


@dataclass(frozen=True)
class KeptCheckpoint:
    where: str  # "FILE line N"
    tenant_id: str  # as a UUID writes it
    sequence: int
    point: dict[str, Any]  # the checkpoint as kept: what its signature covers

    def describe(self) -> str:
        return f"kept checkpoint of tenant {self.tenant_id} at sequence {self.sequence}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open("rb") as file:
            for number, raw in enumerate(file, 1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise KeptFileError(f"line {number} is not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise KeptFileError(exc.strerror or str(exc)) from None


def read_kept(path: Path) -> list[KeptCheckpoint]:
    """Checkpoints kept outside Syncline, one a line (blank lines skipped): an export's
    `{"checkpoint": {...}}` line, an `audit.checkpoint` event as a webhook delivered it
    (the checkpoint is its `data`), or the checkpoint object itself (as GET
    /v1/audit/checkpoints lists them)."""
    kept = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            point = document.get("checkpoint") or document.get("data") or document
            if not isinstance(point["chain_hash"], str) or not point["tenant_id"]:
                raise TypeError
            tenant, sequence = str(UUID(str(point["tenant_id"]))), int(point["sequence"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeptFileError(f"line {number} is not a checkpoint") from None
        kept.append(KeptCheckpoint(f"{path} line {number}", tenant, sequence, point))
    return kept


def kept_problem(
    kept: KeptCheckpoint, report: Report, tenant_exists: Callable[[str], bool]
) -> str | None:
    """None when a kept checkpoint verifies with the report's keys and the chain
    recomputed from the event store has, at its sequence, the hash it signed; else why not.
    The tenant's chain must have been recomputed with the checkpoint's sequence wanted;
    `tenant_exists` is asked about a tenant without events in the event store."""
    problem = signature_problem(kept.point, report.keys, report.trusted)
    if problem is not None:
        return f"its {problem}"
    check = report.tenants.get(kept.tenant_id)
    reached = check.sequence if check is not None else 0
    if reached == 0 and not tenant_exists(kept.tenant_id):  # (events of its own: it does)
        return "its tenant no longer exists in this database (its events were removed)"
    if check is None or kept.sequence > reached:
        return (
            f"the event store's chain of this tenant ends at sequence {reached}: events"
            " this checkpoint signed were removed"
        )
    recomputed = check.hashes.get(kept.sequence)
    if recomputed is None:
        return "not compared: the chain was not recomputed at its sequence"
    if recomputed.hex() != kept.point["chain_hash"]:
        return (
            f"the chain hash at sequence {kept.sequence}, recomputed from the event store,"
            " differs from the one this checkpoint signed: history up to it was rewritten"
        )
    return None
