"""What auditors are shown is verified with the chain: an event hidden from (or slipped into)
the event log behind `/v1/events`, and a checkpoint altered, removed or forged in the table
behind `/v1/audit/checkpoints` and exports, make `audit verify` report the tenant as
tampered, while the chain itself still verifies. Every tamper is undone in its test."""

from __future__ import annotations

import io
from typing import Any
from uuid import UUID

import pytest

from projections.audit.verify import ChainVerifier
from syncline.audit_cli import verify
from syncline.runtime import Runtime
from tests.integration.audit_helpers import (
    chain_rows,
    execute,
    history,
    set_chain,
    set_state,
    stored_row,
)


def run_verify(runtime: Runtime, tenant: UUID) -> tuple[int, str]:
    out = io.StringIO()
    status = verify(runtime, tenant, stream=out)
    return status, out.getvalue()


@pytest.fixture
def signed(runtime: Runtime) -> tuple[UUID, UUID]:
    """Two tenants with 6 events and a checkpoint at sequence 6 each; the first is the one
    tampered with."""
    tenants = []
    for _ in range(2):
        tenant, _ = history(runtime, 6)
        assert runtime.wait_for_projections()
        assert [c["sequence"] for c in runtime.checkpointer().checkpoint(tenant)] == [6]
        tenants.append(tenant)
    assert runtime.wait_for_projections()
    for tenant in tenants:
        status, output = run_verify(runtime, tenant)
        assert status == 0, output
        assert "1 checkpoints verified" in output
    return tenants[0], tenants[1]


def assert_tampered(runtime: Runtime, tenants: tuple[UUID, UUID], *expected: str) -> None:
    status, output = run_verify(runtime, tenants[0])
    assert status == 1, output
    assert f"TAMPERED: tenant {tenants[0]}" in output
    for text in expected:
        assert text in output, output
    status, output = run_verify(runtime, tenants[1])
    assert status == 0, output


def event_log_row(runtime: Runtime, tenant: UUID, position: int) -> tuple[Any, ...]:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT tenant_id, position, occurred_at, event_key, entity_id, type"
            " FROM event_log WHERE tenant_id = %s AND position = %s",
            (tenant, position),
        ).fetchone()
    assert row is not None
    return tuple(row)


def restore_event_log_row(runtime: Runtime, row: tuple[Any, ...]) -> None:
    execute(
        runtime,
        "INSERT INTO event_log (tenant_id, position, occurred_at, event_key, entity_id, type)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, position) DO UPDATE"
        " SET event_key = excluded.event_key",
        row,
    )


def test_an_event_hidden_from_the_event_log_is_named(
    runtime: Runtime, signed: tuple[UUID, UUID]
) -> None:
    sequence, position, evt, _ = chain_rows(runtime, signed[0])[2]
    row = event_log_row(runtime, signed[0], position)
    execute(runtime, "DELETE FROM event_log WHERE tenant_id = %s AND position = %s", row[:2])
    try:
        assert_tampered(
            runtime,
            signed,
            f"sequence {sequence}, {evt}",
            "/v1/events does not list it",
            f"(intact through sequence {sequence - 1})",
        )
    finally:
        restore_event_log_row(runtime, row)
    assert run_verify(runtime, signed[0])[0] == 0


def test_an_event_log_row_pointing_at_another_event_is_named(
    runtime: Runtime, signed: tuple[UUID, UUID]
) -> None:
    sequence, position, evt, _ = chain_rows(runtime, signed[0])[4]
    row = event_log_row(runtime, signed[0], position)
    execute(
        runtime,
        "UPDATE event_log SET event_key = event_key + 1 WHERE tenant_id = %s AND position = %s",
        row[:2],
    )
    try:
        assert_tampered(runtime, signed, f"sequence {sequence}, {evt}", "another event")
    finally:
        restore_event_log_row(runtime, row)
    assert run_verify(runtime, signed[0])[0] == 0


def test_an_event_slipped_into_the_event_log_is_named(
    runtime: Runtime, signed: tuple[UUID, UUID]
) -> None:
    chain = chain_rows(runtime, signed[0])
    # Another tenant's event, listed as this tenant's between its second and third events.
    _, position, _, _ = chain_rows(runtime, signed[1])[0]
    foreign = event_log_row(runtime, signed[1], position)
    assert position not in {p for _, p, _, _ in chain}
    execute(
        runtime,
        "INSERT INTO event_log (tenant_id, position, occurred_at, event_key, entity_id, type)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (signed[0], *foreign[1:]),
    )
    try:
        assert_tampered(
            runtime, signed, f"log position {position}", "not in the chain (an event log row"
        )
    finally:
        execute(
            runtime,
            "DELETE FROM event_log WHERE tenant_id = %s AND position = %s",
            (signed[0], position),
        )
    assert run_verify(runtime, signed[0])[0] == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [("chain_hash", "sha256(chain_hash)"), ("signature", "sha512(signature)")],
)
def test_an_altered_listed_checkpoint_is_named(
    runtime: Runtime, signed: tuple[UUID, UUID], column: str, value: str
) -> None:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            f"SELECT {column} FROM audit_checkpoints WHERE tenant_id = %s AND sequence = 6",
            (signed[0],),
        ).fetchone()
    assert row is not None
    execute(
        runtime,
        f"UPDATE audit_checkpoints SET {column} = {value} WHERE tenant_id = %s",
        (signed[0],),
    )
    try:
        assert_tampered(runtime, signed, "sequence 6", "is not the signed one")
    finally:
        execute(
            runtime,
            f"UPDATE audit_checkpoints SET {column} = %s WHERE tenant_id = %s",
            (row[0], signed[0]),
        )
    assert run_verify(runtime, signed[0])[0] == 0


def test_a_removed_listed_checkpoint_is_named(runtime: Runtime, signed: tuple[UUID, UUID]) -> None:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT * FROM audit_checkpoints WHERE tenant_id = %s", (signed[0],)
        ).fetchone()
    assert row is not None
    execute(runtime, "DELETE FROM audit_checkpoints WHERE tenant_id = %s", (signed[0],))
    try:
        assert_tampered(runtime, signed, "sequence 6", "missing from /v1/audit/checkpoints")
    finally:
        execute(
            runtime,
            "INSERT INTO audit_checkpoints VALUES (%s, %s, %s, %s, %s, %s, %s)",
            tuple(row),
        )
    assert run_verify(runtime, signed[0])[0] == 0


def test_a_forged_listed_checkpoint_is_named(runtime: Runtime, signed: tuple[UUID, UUID]) -> None:
    _, position, _, chain_hash = chain_rows(runtime, signed[0])[2]
    execute(
        runtime,
        "INSERT INTO audit_checkpoints SELECT tenant_id, 3, %s, %s, signed_at, key_id,"
        " signature FROM audit_checkpoints WHERE tenant_id = %s AND sequence = 6",
        (position, chain_hash, signed[0]),
    )
    try:
        assert_tampered(runtime, signed, "sequence 3", "no signed audit.checkpoint event")
    finally:
        execute(
            runtime,
            "DELETE FROM audit_checkpoints WHERE tenant_id = %s AND sequence = 3",
            (signed[0],),
        )
    assert run_verify(runtime, signed[0])[0] == 0


def test_a_rewritten_history_is_not_called_intact_up_to_its_checkpoint(
    runtime: Runtime, signed: tuple[UUID, UUID]
) -> None:
    # What `syncline replay audit` leaves after an event under the checkpoint was changed:
    # a chain recomputed from the changed event store, which the checkpoint did not sign.
    tenant = signed[0]
    original = [(sequence, hashed) for sequence, _, _, hashed in chain_rows(runtime, tenant)]
    _, position, _, _ = chain_rows(runtime, tenant)[2]
    state = bytes(stored_row(runtime, position)[4])
    doctored = state.replace(b"Name", b"Nope")
    assert doctored != state
    set_state(runtime, position, doctored)
    try:
        recomputed = ChainVerifier(runtime.app, runtime.pool).verify(
            tenant, wanted={str(tenant): range(1, 7)}
        )
        hashes = recomputed.tenants[str(tenant)].hashes
        assert sorted(hashes) == [1, 2, 3, 4, 5, 6]
        set_chain(runtime, tenant, hashes.items())
        report = ChainVerifier(runtime.app, runtime.pool).verify(tenant)
        check = report.tenants[str(tenant)]
        assert check.mismatch is not None
        assert check.mismatch.sequence == 6
        assert "after sequence 0 and up to this one was rewritten" in check.mismatch.reason
        assert check.verified == 0  # nothing below the checkpoint is vouched for
        # A check of a range (as GET /v1/audit/verify makes) is bounded by where it starts.
        ranged = ChainVerifier(runtime.app, runtime.pool).verify(tenant, from_sequence=3)
        check = ranged.tenants[str(tenant)]
        assert check.mismatch is not None
        assert "after sequence 2 and up to this one" in check.mismatch.reason
        assert check.verified == 2
        assert_tampered(runtime, signed, "sequence 6", "(intact through sequence 0)")
    finally:
        set_state(runtime, position, state)
        set_chain(runtime, tenant, original)
    assert run_verify(runtime, tenant)[0] == 0
