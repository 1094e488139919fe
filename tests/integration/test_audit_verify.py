"""Tampering in PostgreSQL is detected: each kind names the first event that does not match,
and other tenants still verify. Every tamper is undone at the end of its test."""

from __future__ import annotations

import io
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.envelope import event_id
from projections.audit.trust import KeptCheckpoint
from syncline.audit_cli import verify
from syncline.runtime import Runtime
from tests.integration.audit_helpers import (
    chain_rows,
    delete_row,
    history,
    insert_row,
    set_state,
    stored_row,
    swap_positions,
)


def run_verify(runtime: Runtime, tenant: UUID | None) -> tuple[int, str]:
    out = io.StringIO()
    status = verify(runtime, tenant, stream=out)
    return status, out.getvalue()


@pytest.fixture
def tenants(runtime: Runtime) -> tuple[UUID, UUID]:
    """Two tenants with intact chains (the first is tampered with, the second is not)."""
    first, _ = history(runtime, 8)
    second, _ = history(runtime, 4)
    assert runtime.wait_for_projections()
    for tenant in (first, second):
        assert run_verify(runtime, tenant)[0] == 0
    return first, second


def assert_detected(runtime: Runtime, tenants: tuple[UUID, UUID], *expected: str) -> str:
    tampered, other = tenants
    status, output = run_verify(runtime, tampered)
    assert status == 1, output
    assert "TAMPERED" in output
    for text in expected:
        assert text in output, output
    status, output = run_verify(runtime, other)
    assert status == 0, output
    return output


def test_an_intact_tenant_verifies(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    status, output = run_verify(runtime, tenants[0])
    assert status == 0
    assert f"ok: tenant {tenants[0]}: 8 events" in output


def test_a_modified_event_is_named(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    sequence, position, evt, _ = chain_rows(runtime, tenants[0])[3]
    row = stored_row(runtime, position)
    state = bytes(row[4])
    doctored = state.replace(b"Name", b"Nope").replace(b"New", b"Old")
    assert doctored != state
    set_state(runtime, position, doctored)
    try:
        assert_detected(runtime, tenants, f"sequence {sequence}, {evt}", "modified")
    finally:
        set_state(runtime, position, state)
    assert run_verify(runtime, tenants[0])[0] == 0


def test_a_deleted_event_is_named(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    sequence, position, evt, _ = chain_rows(runtime, tenants[0])[2]
    row = stored_row(runtime, position)
    delete_row(runtime, position)
    try:
        assert_detected(runtime, tenants, f"sequence {sequence}, {evt}", "deleted")
    finally:
        insert_row(runtime, row)


def test_the_newest_event_deleted_is_named(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    sequence, position, evt, _ = chain_rows(runtime, tenants[0])[-1]
    row = stored_row(runtime, position)
    delete_row(runtime, position)
    try:
        assert_detected(runtime, tenants, f"sequence {sequence}, {evt}", "deleted")
    finally:
        insert_row(runtime, row)


def test_two_swapped_events_are_named(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    rows = chain_rows(runtime, tenants[0])
    (sequence, first, evt, _), (_, second, moved, _) = rows[1], rows[4]
    swap_positions(runtime, first, second)
    try:
        assert_detected(runtime, tenants, f"sequence {sequence}, {evt}", moved, "reordered")
    finally:
        swap_positions(runtime, first, second)


def test_a_forged_event_is_named(runtime: Runtime, tenants: tuple[UUID, UUID]) -> None:
    """A forged event in a free place of the log (made by removing a throwaway tenant's)."""
    tampered, _ = tenants
    throwaway, _ = history(runtime, 1)
    history(runtime, 2, tampered)  # the free place is followed by more of the tenant's events
    assert runtime.wait_for_projections()
    (_, free, _, _) = chain_rows(runtime, throwaway)[0]
    sequence, _, displaced, _ = chain_rows(runtime, tampered)[8]
    template = stored_row(runtime, chain_rows(runtime, tampered)[0][1])
    forged_id = uuid4()
    state = bytes(template[4]).replace(str(template[1]).encode(), str(forged_id).encode())
    original = stored_row(runtime, free)
    delete_row(runtime, free)
    insert_row(runtime, (free, forged_id, 1, template[3], state))
    try:
        assert_detected(
            runtime, tenants, f"sequence {sequence}, {displaced}", event_id(forged_id, 1)
        )
    finally:
        delete_row(runtime, free)
        insert_row(runtime, original)
    assert run_verify(runtime, tampered)[0] == 0


def test_an_unknown_tenant_exits_2(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = run_verify(runtime, uuid4())
    assert status == 2
    assert output == ""
    assert "no tenant" in capsys.readouterr().err  # an error: on standard error


def test_a_tenant_whose_chain_was_removed_is_found_by_a_full_check(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    tampered, other = tenants
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        chain = conn.execute(
            "SELECT * FROM audit_chain WHERE tenant_id = %s", (tampered,)
        ).fetchall()
        heads = conn.execute(
            "SELECT * FROM audit_heads WHERE tenant_id = %s", (tampered,)
        ).fetchall()
        conn.execute("DELETE FROM audit_chain WHERE tenant_id = %s", (tampered,))
        conn.execute("DELETE FROM audit_heads WHERE tenant_id = %s", (tampered,))
        try:
            status, output = run_verify(runtime, None)
            assert status == 1
            assert f"TAMPERED: tenant {tampered}: sequence 1" in output
            assert "inserted" in output
            assert f"ok: tenant {other}" in output
        finally:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO audit_chain VALUES (%s, %s, %s, %s, %s)", chain)
                cur.executemany("INSERT INTO audit_heads VALUES (%s, %s, %s, %s, %s)", heads)
    assert run_verify(runtime, None)[0] == 0


def test_a_kept_checkpoint_past_the_first_mismatch_is_still_compared(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    """A tenant's check stops at its first mismatch; its chain is still recomputed from the
    event store up to the checkpoints kept, which each say whether they match it."""
    tampered, _ = tenants
    (point,) = runtime.checkpointer().checkpoint(tampered)
    assert runtime.wait_for_projections()
    kept = [KeptCheckpoint("kept.ndjson line 1", str(tampered), point["sequence"], point)]
    out = io.StringIO()
    assert verify(runtime, tampered, stream=out, kept=kept) == 0, out.getvalue()
    assert "kept: 1 of 1 kept checkpoints match" in out.getvalue()
    sequence, position, evt, _ = chain_rows(runtime, tampered)[3]
    state = bytes(stored_row(runtime, position)[4])
    set_state(runtime, position, state.replace(b"Name", b"Nope"))
    try:
        out = io.StringIO()
        assert verify(runtime, tampered, stream=out, kept=kept) == 1
    finally:
        set_state(runtime, position, state)
    output = out.getvalue()
    assert f"TAMPERED: tenant {tampered}: sequence {sequence}, {evt}" in output
    assert (
        f"TAMPERED: kept checkpoint of tenant {tampered} at sequence 8 (kept.ndjson line 1):"
        " the chain hash at sequence 8, recomputed from the event store, differs" in output
    )


def test_a_kept_file_that_holds_no_checkpoint_is_said_so(
    runtime: Runtime, tenants: tuple[UUID, UUID]
) -> None:
    out = io.StringIO()
    assert verify(runtime, tenants[0], stream=out, kept=[]) == 0
    assert "kept: 0 of 0 kept checkpoints match" in out.getvalue()
    assert "; the file holds none" in out.getvalue()
    out = io.StringIO()
    assert verify(runtime, tenants[0], stream=out) == 0  # without --kept: no such line
    assert "kept:" not in out.getvalue()
