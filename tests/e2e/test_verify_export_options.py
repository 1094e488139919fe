"""docs/audit/verify_export.py's options and edge cases: --tenant, --require-checkpoint,
the events no checkpoint signs, a blank last line, a file that is not UTF-8, and a
checkpoint line before its event."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from projections.audit.chain import canonical_json
from projections.audit.checkpoints import Checkpointer
from projections.audit.view import AuditView
from syncline.runtime import Runtime
from tests.e2e.test_verify_export_script import SCRIPT
from tests.integration.audit_helpers import history


def run(path: Path, key: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path), key, *options],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def export(runtime: Runtime) -> tuple[UUID, list[str]]:
    """A tenant's export: 5 events, a checkpoint signing the first 3 (its line last)."""
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    runtime.checkpointer().checkpoint(tenant)
    assert runtime.wait_for_projections()
    history(runtime, 2, tenant)
    assert runtime.wait_for_projections()
    lines = [
        line.decode()
        for line in AuditView(runtime.pool).export(runtime.cursors, tenant, app=runtime.app)
    ]
    assert len(lines) == 6
    assert lines[-1].startswith('{"checkpoint"')
    return tenant, lines


def key(runtime: Runtime) -> str:
    assert runtime.signer is not None
    return runtime.signer.public_key_b64


def write(path: Path, lines: list[str], end: str = "") -> Path:
    path.write_text("".join(lines) + end)
    return path


def test_events_after_the_last_checkpoint_are_counted_and_can_be_required_signed(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    _, lines = export
    whole = write(tmp_path / "export.ndjson", lines)
    answer = run(whole, key(runtime))
    assert answer.returncode == 0, answer.stderr
    assert "2 events after the last checkpoint (sequence 3) are not signed yet" in answer.stdout
    refused = run(whole, key(runtime), "--require-checkpoint")
    assert refused.returncode == 1, refused.stdout
    assert "2 events after the last checkpoint (sequence 3)" in refused.stderr

    # Cut off after the fourth event: still a valid chain, but no checkpoint at all.
    truncated = write(tmp_path / "truncated.ndjson", lines[:4])
    answer = run(truncated, key(runtime))
    assert answer.returncode == 0, answer.stderr
    assert "none of the 4 events is signed" in answer.stdout
    assert run(truncated, key(runtime), "--require-checkpoint").returncode == 1

    signed = write(tmp_path / "signed.ndjson", [*lines[:3], lines[-1]])
    assert run(signed, key(runtime), "--require-checkpoint").returncode == 0


def test_every_line_must_be_the_given_tenants(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    tenant, lines = export
    path = write(tmp_path / "export.ndjson", lines)
    assert run(path, key(runtime), "--tenant", str(tenant)).returncode == 0
    other = run(path, key(runtime), "--tenant", "00000000-0000-0000-0000-000000000001")
    assert other.returncode == 1
    assert "line 1" in other.stderr
    assert "another tenant" in other.stderr


def test_a_blank_last_line_is_accepted_and_a_blank_line_inside_is_not(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    _, lines = export
    assert run(write(tmp_path / "a.ndjson", lines, "\n"), key(runtime)).returncode == 0
    inside = run(write(tmp_path / "b.ndjson", [*lines[:2], "\n", *lines[2:]]), key(runtime))
    assert inside.returncode == 1
    assert "line 3: a blank line" in inside.stderr


def test_a_file_that_is_not_utf8_is_refused_with_status_2(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    _, lines = export
    path = tmp_path / "latin1.ndjson"
    path.write_bytes("".join(lines[:2]).encode() + b'{"name": "Andr\xe9"}\n')
    answer = run(path, key(runtime))
    assert answer.returncode == 2
    assert "line 3 is not UTF-8" in answer.stderr
    assert "Traceback" not in answer.stderr


def test_a_checkpoint_line_may_come_before_its_events(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    _, lines = export
    first = write(tmp_path / "first.ndjson", [lines[-1], *lines[:-1]])
    answer = run(first, key(runtime))
    assert answer.returncode == 0, answer.stderr
    assert "1 checkpoints verified" in answer.stdout
    # ...but its event must follow.
    orphan = write(tmp_path / "orphan.ndjson", [lines[-1], *lines[:2]])
    answer = run(orphan, key(runtime))
    assert answer.returncode == 1
    assert "line 1: its sequence 3 is not among the exported events" in answer.stderr


def test_kept_checkpoints_catch_a_chain_re_signed_after_a_rewrite(
    runtime: Runtime, export: tuple[UUID, list[str]], tmp_path: Path
) -> None:
    """Someone with the database rewrites history, removes the checkpoints and lets the
    checkpointer sign the new chain: the export verifies on its own, and only a checkpoint
    kept outside Syncline shows the rewrite."""
    tenant, lines = export
    kept = write(tmp_path / "kept.ndjson", [lines[-1]])  # e.g. from an earlier export
    whole = write(tmp_path / "export.ndjson", lines)
    answer = run(whole, key(runtime), "--kept", str(kept))
    assert answer.returncode == 0, answer.stderr
    assert "1 of 1 kept checkpoints match the export" in answer.stdout

    # The same chain recomputed over a changed event 2, and signed again with the real key.
    events = [json.loads(line) for line in lines[:-1]]
    events[1]["data"]["name"] = "Mallory"
    previous = bytes(32)
    for event in events:
        body = {k: v for k, v in event.items() if k not in ("cursor", "sequence", "chain_hash")}
        previous = hashlib.sha256(previous + canonical_json(body)).digest()
        event["chain_hash"] = previous.hex()
    assert runtime.signer is not None
    resigned = Checkpointer(runtime.app, runtime.pool, runtime.signer).sign(tenant, 5, previous)
    rewritten = write(
        tmp_path / "rewritten.ndjson",
        [json.dumps(e) + "\n" for e in events] + [json.dumps({"checkpoint": resigned}) + "\n"],
    )
    alone = run(rewritten, key(runtime))
    assert alone.returncode == 0, alone.stderr  # it verifies on its own...
    caught = run(rewritten, key(runtime), "--kept", str(kept))
    assert caught.returncode == 1  # ...but not against the checkpoint kept
    assert "kept checkpoint at sequence 3" in caught.stderr
    assert "history up to it was rewritten" in caught.stderr

    cut = write(tmp_path / "cut.ndjson", lines[:2])
    caught = run(cut, key(runtime), "--kept", str(kept))
    assert caught.returncode == 1
    assert "the export ends at sequence 2" in caught.stderr


def test_an_empty_export_is_never_a_signed_one(runtime: Runtime, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.ndjson", [])
    plain = run(empty, key(runtime))
    assert plain.returncode == 0, plain.stderr
    assert "the export is empty: nothing in it is signed" in plain.stdout
    required = run(empty, key(runtime), "--require-checkpoint")
    assert required.returncode == 1, required.stdout
    assert "the export is empty" in required.stdout + required.stderr
