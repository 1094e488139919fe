"""The checkpointer refuses to sign a chain that no longer has the hash its latest recorded
checkpoint signed (history rewritten and the chain recomputed), and logs an error."""

from __future__ import annotations

import logging
from uuid import UUID

import pytest

from projections.audit.checkpoints import ChainRewrittenError, Checkpointer
from syncline.audit_cli import checkpoint
from syncline.runtime import Runtime
from tests.integration.audit_helpers import chain_rows, execute, history, set_chain


def signed_at_3(runtime: Runtime) -> tuple[UUID, Checkpointer]:
    """A tenant with 3 events and a checkpoint at sequence 3, and the checkpointer."""
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    checkpointer = runtime.checkpointer(every_seconds=0)
    assert [c["sequence"] for c in checkpointer.checkpoint(tenant)] == [3]
    assert runtime.wait_for_projections()
    return tenant, checkpointer


def test_a_chain_rewritten_under_its_checkpoint_is_not_signed(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, checkpointer = signed_at_3(runtime)
    original = [(sequence, hashed) for sequence, _, _, hashed in chain_rows(runtime, tenant)]
    # What `syncline replay audit` leaves after an event under the checkpoint was changed:
    # the same checkpoint (an event of the log), another chain hash at its sequence.
    rewrite = "UPDATE audit_chain SET chain_hash = {} WHERE tenant_id = %s AND sequence >= 2"
    execute(runtime, rewrite.format("sha256(chain_hash)"), (tenant,))
    try:
        history(runtime, 2, tenant)
        assert runtime.wait_for_projections()
        with pytest.raises(ChainRewrittenError, match="sequence 3"):
            checkpointer.checkpoint(tenant)
        caplog.set_level(logging.ERROR)
        monkeypatch.setattr(checkpointer, "due", lambda: [tenant])  # others' are theirs
        assert checkpointer.run_due() == 0
    finally:  # put the chain back (other tests verify every tenant)
        set_chain(runtime, tenant, original)
    refused = [r for r in caplog.records if r.getMessage() == "audit chain rewritten: not signed"]
    assert [getattr(r, "tenant_id", None) for r in refused] == [str(tenant)]
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT max(sequence) FROM audit_checkpoints WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert row is not None
    assert row[0] == 3  # nothing signed since
    assert runtime.checkpointer().checkpoint(tenant)  # the chain put back is signed again
    assert runtime.wait_for_projections()


def test_an_intact_chain_is_signed_on(runtime: Runtime) -> None:
    tenant, _ = history(runtime, 2)
    assert runtime.wait_for_projections()
    checkpointer = runtime.checkpointer()
    assert [c["sequence"] for c in checkpointer.checkpoint(tenant)] == [2]
    assert runtime.wait_for_projections()
    history(runtime, 2, tenant)
    assert runtime.wait_for_projections()
    assert [c["sequence"] for c in checkpointer.checkpoint(tenant)] == [4]


def test_a_chain_rewritten_without_new_events_is_refused_at_every_run(
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A rewrite and `syncline replay audit` add no event: the chain is not due for a
    # checkpoint, and the refusal must not wait for it to grow.
    tenant, checkpointer = signed_at_3(runtime)
    assert tenant not in checkpointer.moved()
    original = [(sequence, hashed) for sequence, _, _, hashed in chain_rows(runtime, tenant)]
    rewrite = "UPDATE audit_chain SET chain_hash = sha256(chain_hash) WHERE tenant_id = %s"
    execute(runtime, rewrite, (tenant,))
    try:
        assert tenant in checkpointer.rewritten()
        monkeypatch.setattr(checkpointer, "due", lambda: [])  # nothing moved
        caplog.set_level(logging.ERROR)
        assert checkpointer.run_due() == 0
        assert checkpointer.run_due() == 0
        status = checkpoint(runtime)
        assert status == 1
        assert f"tenant {tenant}: the chain hash at sequence 3" in capsys.readouterr().err
    finally:
        set_chain(runtime, tenant, original)
    refused = [r for r in caplog.records if r.getMessage() == "audit chain rewritten: not signed"]
    ours = [r for r in refused if getattr(r, "tenant_id", None) == str(tenant)]
    assert len(ours) == 2  # at each run
    assert tenant not in checkpointer.rewritten()
