"""`syncline audit verify` with what an auditor keeps outside Syncline: the public key
(`--public-key`, SYNCLINE_AUDIT_PUBLIC_KEYS) and checkpoints (`--kept`). Each test has a
database of its own, which it tampers with as someone holding the database would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from domain.audit import checkpoint_message
from projections.audit.trust import key_id
from projections.audit.view import AuditView
from projections.runner import ProjectionRunner
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import ROOT
from tests.integration.audit_helpers import (
    chain_rows,
    delete_row,
    events_table,
    history,
    set_state,
    stored_row,
)


def syncline(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "SYNCLINE_AUDIT_PUBLIC_KEYS"}
    environ = {**inherited, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "syncline.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def chain(runtime: Runtime) -> None:
    """Recompute the audit chain from the log: `syncline replay audit`."""
    ProjectionRunner(runtime.app, runtime.pool, runtime.projection("audit")).rebuild()


@pytest.fixture
def signed(fresh_database: str, tmp_path: Path) -> Iterator[tuple[Runtime, UUID]]:
    """A database of the test's own: a tenant with 4 events, signed at sequence 4 (the
    projections run when the test says: as with the worker stopped in between)."""
    runtime = Runtime.open(Settings(database_url=fresh_database, data_dir=tmp_path))
    try:
        tenant, _ = history(runtime, 4)
        chain(runtime)
        assert [c["sequence"] for c in runtime.checkpointer().checkpoint(tenant)] == [4]
        chain(runtime)
        yield runtime, tenant
    finally:
        runtime.close()


def public_key(runtime: Runtime) -> str:
    assert runtime.signer is not None
    return runtime.signer.public_key_b64


def checkpoint_rows(runtime: Runtime) -> list[tuple[int, dict[str, Any]]]:
    """Every `audit.checkpoint` event in the event store: its log position and document."""
    with psycopg.connect(runtime.database_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT notification_id, state FROM {} WHERE topic LIKE %s").format(
                events_table(runtime)
            ),
            ("domain.audit:%",),
        ).fetchall()
    return [(int(position), json.loads(bytes(state))) for position, state in rows]


def write_state(runtime: Runtime, position: int, document: dict[str, Any]) -> None:
    set_state(runtime, position, json.dumps(document, separators=(",", ":")).encode())


def kept_file(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    return path


def export_checkpoints(runtime: Runtime, tenant: UUID) -> list[dict[str, Any]]:
    """The tenant's `{"checkpoint": …}` export lines, as an auditor keeps them."""
    lines = AuditView(runtime.pool).export(runtime.cursors, tenant, app=runtime.app)
    return [json.loads(line) for line in lines if line.startswith(b'{"checkpoint"')]


def test_checkpoints_verify_with_the_key_pinned(signed: tuple[Runtime, UUID]) -> None:
    runtime, tenant = signed
    url = runtime.database_url
    answer = syncline(url, "audit", "verify", "--public-key", public_key(runtime))
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"ok: tenant {tenant}: 4 events, 1 checkpoints verified" in answer.stdout
    assert runtime.signer is not None
    assert (
        "note: checkpoints verified with the keys pinned by --public-key"
        f" (keys trusted: {runtime.signer.key_id})" in answer.stdout
    )
    # The same keys from the environment; the option wins over it.
    other = base64.b64encode(bytes(32)).decode()
    answer = syncline(
        url, "audit", "verify", SYNCLINE_AUDIT_PUBLIC_KEYS=f"{other},{public_key(runtime)}"
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "pinned by SYNCLINE_AUDIT_PUBLIC_KEYS" in answer.stdout
    answer = syncline(
        url,
        "audit",
        "verify",
        "--public-key",
        public_key(runtime),
        SYNCLINE_AUDIT_PUBLIC_KEYS=other,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "pinned by --public-key" in answer.stdout


def test_checkpoints_re_signed_with_a_key_put_in_the_database_fail_the_pinned_key(
    signed: tuple[Runtime, UUID],
) -> None:
    """Someone holding the database signs every checkpoint again with a key of theirs
    and puts that key among the database's keys: verified with the database's keys, all
    is well; with the key the auditor kept, each re-signed checkpoint is named."""
    runtime, tenant = signed
    url = runtime.database_url
    attacker = Ed25519PrivateKey.generate()
    attacker_public = attacker.public_key().public_bytes_raw()
    attacker_id = key_id(attacker_public)
    for position, document in checkpoint_rows(runtime):
        state = document["state"]
        message = checkpoint_message(
            state["tenant_id"], state["sequence"], state["chain_hash"], state["signed_at"]
        )
        state["key_id"] = attacker_id
        state["signature"] = base64.b64encode(attacker.sign(message)).decode()
        write_state(runtime, position, document)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_keys")
        conn.execute(
            "INSERT INTO audit_keys (key_id, public_key) VALUES (%s, %s)",
            (attacker_id, attacker_public),
        )
    chain(runtime)  # the checkpoints the API and exports list: the re-signed ones

    trusting = syncline(url, "audit", "verify")
    assert trusting.returncode == 0, trusting.stdout + trusting.stderr
    assert f"ok: tenant {tenant}: 4 events, 1 checkpoints verified" in trusting.stdout
    assert (
        "note: checkpoints verified with keys read from the database; pin yours with"
        " --public-key" in trusting.stdout
    )
    assert attacker_id in trusting.stdout

    pinned = syncline(url, "audit", "verify", "--public-key", public_key(runtime))
    assert pinned.returncode == 1, pinned.stdout + pinned.stderr
    assert f"TAMPERED: tenant {tenant}: sequence 4" in pinned.stdout
    assert f"key {attacker_id} is not among the pinned keys" in pinned.stdout


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (
            ("--public-key", "not base64!"),
            "syncline audit verify: --public-key: public key 1 is not base64",
        ),
        (
            (
                "--public-key",
                f"{base64.b64encode(bytes(32)).decode()},{base64.b64encode(bytes(31)).decode()}",
            ),
            "syncline audit verify: --public-key: public key 2 is 31 bytes; Ed25519 keys are 32",
        ),
        # A setting, checked with the others before any command runs (syncline.config).
        (
            (),
            "syncline: SYNCLINE_AUDIT_PUBLIC_KEYS=%%%: public key 1 is not base64; allowed:"
            " base64 of 32-byte Ed25519 public keys, comma-separated",
        ),
    ],
)
def test_a_malformed_public_key_is_one_clear_line_and_exit_2(
    database_url: str, given: tuple[str, ...], error: str
) -> None:
    env = {} if given else {"SYNCLINE_AUDIT_PUBLIC_KEYS": "%%%"}
    answer = syncline(database_url, "audit", "verify", *given, **env)
    assert answer.returncode == 2, answer.stdout + answer.stderr
    assert answer.stderr.splitlines() == [error]
    assert answer.stdout == ""


def test_kept_checkpoints_match_and_catch_a_chain_rewritten_and_signed_again(
    signed: tuple[Runtime, UUID], tmp_path: Path
) -> None:
    """The rewrite docs/audit.md describes: an event changed, the checkpoint events
    deleted, the chain recomputed (`syncline replay audit`) and signed again by the
    checkpointer with the real key. Only the checkpoint the auditor kept shows it."""
    runtime, tenant = signed
    url = runtime.database_url
    key = public_key(runtime)
    (line,) = export_checkpoints(runtime, tenant)
    kept = kept_file(tmp_path / "kept.ndjson", line)
    answer = syncline(url, "audit", "verify", "--public-key", key, "--kept", str(kept))
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "kept: 1 of 1 kept checkpoints match the chains" in answer.stdout

    _, position, _, _ = chain_rows(runtime, tenant)[1]
    state = bytes(stored_row(runtime, position)[4])
    set_state(runtime, position, state.replace(b"New 1", b"Mallory"))
    for checkpoint, _ in checkpoint_rows(runtime):
        delete_row(runtime, checkpoint)
    chain(runtime)
    resigned = runtime.checkpointer().checkpoint(tenant)
    assert [c["sequence"] for c in resigned] == [4]
    assert resigned[0]["chain_hash"] != line["checkpoint"]["chain_hash"]
    chain(runtime)

    alone = syncline(url, "audit", "verify", "--public-key", key)
    assert alone.returncode == 0, alone.stdout + alone.stderr  # the database agrees with itself
    caught = syncline(url, "audit", "verify", "--public-key", key, "--kept", str(kept))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert (
        f"TAMPERED: kept checkpoint of tenant {tenant} at sequence 4 ({kept} line 1): the"
        " chain hash at sequence 4, recomputed from the event store, differs from the one"
        " this checkpoint signed: history up to it was rewritten" in caught.stdout
    )
    assert "kept: 0 of 1 kept checkpoints match" in caught.stdout


def test_kept_checkpoints_catch_events_removed(
    signed: tuple[Runtime, UUID], tmp_path: Path
) -> None:
    runtime, tenant = signed
    (line,) = export_checkpoints(runtime, tenant)
    kept = kept_file(tmp_path / "kept.ndjson", line["checkpoint"])  # as the API lists it
    for _, position, _, _ in chain_rows(runtime, tenant)[2:]:
        delete_row(runtime, position)
    for checkpoint, _ in checkpoint_rows(runtime):
        delete_row(runtime, checkpoint)
    chain(runtime)
    url = runtime.database_url
    assert syncline(url, "audit", "verify").returncode == 0  # a shorter chain, intact
    caught = syncline(url, "audit", "verify", "--kept", str(kept))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert (
        f"TAMPERED: kept checkpoint of tenant {tenant} at sequence 4 ({kept} line 1): the"
        " event store's chain of this tenant ends at sequence 2: events this checkpoint"
        " signed were removed" in caught.stdout
    )


def test_kept_checkpoints_are_signed_of_a_tenant_that_exists_and_filtered_by_tenant(
    signed: tuple[Runtime, UUID], tmp_path: Path
) -> None:
    runtime, tenant = signed
    url = runtime.database_url
    (line,) = export_checkpoints(runtime, tenant)
    point = line["checkpoint"]
    forged = {**point, "chain_hash": "00" * 32}  # a hash the key never signed
    assert runtime.signer is not None
    gone = uuid4()
    message = checkpoint_message(str(gone), 1, "11" * 32, point["signed_at"])
    vanished = {
        **point,
        "tenant_id": str(gone),
        "sequence": 1,
        "chain_hash": "11" * 32,
        "signature": runtime.signer.sign(message),
    }
    webhook = {"id": "evt_x", "type": "audit.checkpoint", "data": point}  # as delivered
    kept = kept_file(tmp_path / "kept.ndjson", webhook, forged, vanished)
    answer = syncline(url, "audit", "verify", "--kept", str(kept))
    assert answer.returncode == 1, answer.stdout + answer.stderr
    assert (
        f"TAMPERED: kept checkpoint of tenant {tenant} at sequence 4 ({kept} line 2): its"
        f" signature does not verify with key {point['key_id']} (signature invalid)"
        in answer.stdout
    )
    assert (
        f"TAMPERED: kept checkpoint of tenant {gone} at sequence 1 ({kept} line 3): its"
        " tenant no longer exists in this database" in answer.stdout
    )
    assert "kept: 1 of 3 kept checkpoints match" in answer.stdout

    mine = kept_file(tmp_path / "mine.ndjson", webhook, vanished)
    answer = syncline(url, "audit", "verify", "--tenant", str(tenant), "--kept", str(mine))
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert (
        "kept: 1 of 1 kept checkpoints match the chains recomputed from the event store;"
        " 1 of other tenants skipped (--tenant)" in answer.stdout
    )

    unreadable = tmp_path / "unreadable.ndjson"
    unreadable.write_text('{"not": "a checkpoint"}\n')
    answer = syncline(url, "audit", "verify", "--kept", str(unreadable))
    assert answer.returncode == 2
    assert answer.stderr.splitlines() == [
        f"syncline audit verify: --kept {unreadable}: line 1 is not a checkpoint"
    ]


def test_kept_checkpoints_are_compared_with_events_not_chained_yet(
    signed: tuple[Runtime, UUID], tmp_path: Path
) -> None:
    """While `syncline replay audit` rebuilds the chain, a kept checkpoint past the
    rebuilt part is compared with the event store's events, not taken for removed ones."""
    runtime, tenant = signed
    (line,) = export_checkpoints(runtime, tenant)
    kept = kept_file(tmp_path / "kept.ndjson", line)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE audit_chain, audit_heads, audit_checkpoints")  # as a replay
        conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'audit'")
    answer = syncline(runtime.database_url, "audit", "verify", "--kept", str(kept))
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"ok: tenant {tenant}: 0 events, 0 checkpoints verified; 4 events" in answer.stdout
    assert "kept: 1 of 1 kept checkpoints match" in answer.stdout
