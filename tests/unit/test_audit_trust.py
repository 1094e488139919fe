"""`syncline audit verify` (projections.audit.trust) and docs/audit/verify_export.py, which
must run without Syncline and so reads keys and kept checkpoints with code of its own,
answer alike: the same key ids, the same errors for malformed keys, the same checkpoints
read from the same kept lines in their three forms, the same signatures accepted."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.audit import checkpoint_message
from projections.audit.report import Report
from projections.audit.trust import (
    KeptFileError,
    MalformedKeyError,
    key_id,
    parse_public_keys,
    read_kept,
    signature_problem,
)
from tests.conftest import ROOT

SCRIPT = ROOT / "docs" / "audit" / "verify_export.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_export", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = PRIVATE.public_key().public_bytes_raw()
PUBLIC_B64 = base64.b64encode(PUBLIC).decode()


def signed(**changes: Any) -> dict[str, Any]:
    point = {
        "tenant_id": "0b6f43c2-9a51-4d8e-b7e2-1c5d9e3a7f20",
        "sequence": 7,
        "chain_hash": "ab" * 32,
        "signed_at": "2026-11-29T16:11:14.123456Z",
        "key_id": key_id(PUBLIC),
    }
    message = checkpoint_message(
        point["tenant_id"], point["sequence"], point["chain_hash"], point["signed_at"]
    )
    point["signature"] = base64.b64encode(PRIVATE.sign(message)).decode()
    return {**point, **changes}


@pytest.mark.parametrize(
    "text",
    [
        PUBLIC_B64,
        f" {PUBLIC_B64} , {base64.b64encode(bytes(32)).decode()}",
        "",
        "not base64!",
        base64.b64encode(bytes(31)).decode(),
        f"{PUBLIC_B64},",
        PUBLIC_B64.rstrip("="),
    ],
)
def test_keys_are_read_alike(script: ModuleType, text: str) -> None:
    try:
        expected: Any = sorted(script.parse_keys(text))
    except ValueError as exc:
        expected = str(exc)
    try:
        answer: Any = sorted(parse_public_keys(text))
    except MalformedKeyError as exc:
        answer = str(exc)
    assert answer == expected
    assert key_id(PUBLIC) == script.key_id(PUBLIC)


def test_kept_checkpoints_are_read_alike_in_their_three_forms(
    script: ModuleType, tmp_path: Path
) -> None:
    point = signed()
    forms = [
        {"checkpoint": point},  # an export's line
        {"id": "evt_1", "type": "audit.checkpoint", "data": point},  # a webhook delivery
        point,  # GET /v1/audit/checkpoints
    ]
    path = tmp_path / "kept.ndjson"
    path.write_text("".join(json.dumps(f) + "\n" for f in forms) + "\n")
    assert [(k.where, k.point) for k in read_kept(path)] == script.kept_checkpoints(str(path))


@pytest.mark.parametrize(
    "line",
    [b'{"sequence": 1}\n', b"[]\n", b"not json\n", b'{"checkpoint": {"tenant_id": ""}}\n'],
)
def test_a_line_that_is_not_a_checkpoint_is_refused_alike(
    script: ModuleType, tmp_path: Path, line: bytes
) -> None:
    path = tmp_path / "kept.ndjson"
    path.write_bytes(json.dumps(signed()).encode() + b"\n" + line)
    with pytest.raises(script.Rejected, match="line 2: not a checkpoint"):
        script.kept_checkpoints(str(path))
    with pytest.raises(KeptFileError, match="line 2 is not a checkpoint"):
        read_kept(path)


def test_a_kept_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kept.ndjson"
    path.write_bytes(b"\xff\n")
    with pytest.raises(KeptFileError, match="line 1 is not UTF-8"):
        read_kept(path)
    with pytest.raises(KeptFileError):
        read_kept(tmp_path / "missing.ndjson")


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({}, True),
        ({"chain_hash": "cd" * 32}, False),
        ({"signed_at": "2026-11-29T16:11:15.123456Z"}, False),
        ({"signature": "not base64!"}, False),
    ],
)
def test_signatures_are_accepted_alike(
    script: ModuleType, changes: dict[str, Any], accepted: bool
) -> None:
    point = signed(**changes)
    keys = parse_public_keys(PUBLIC_B64)
    try:
        script.verify_signature("checkpoint", point, keys)
        expected = True
    except script.Rejected:
        expected = False
    assert expected is accepted
    assert (signature_problem(point, keys, "the pinned keys") is None) is accepted


def test_a_checkpoint_must_name_a_trusted_key() -> None:
    """Unlike the script, which tries every key given when a checkpoint's key_id is not
    among them, `audit verify` holds each checkpoint to the key its key_id names: a key
    not pinned is named as such."""
    keys = parse_public_keys(PUBLIC_B64)
    problem = signature_problem(signed(key_id="ed25519:0000000000000000"), keys, "the pinned keys")
    assert (
        problem
        == "key ed25519:0000000000000000 is not among the pinned keys (signed by another key)"
    )
    assert Report({}, pinned=True).trusted == "the pinned keys"
