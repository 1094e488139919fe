"""Checkpoints: when they are made, what they sign, and who receives them."""

from __future__ import annotations

import base64
import io
import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.events import public_type
from projections.audit.chain import canonical_bytes, next_hash
from projections.audit.checkpoints import JOB_INTERVAL
from projections.audit.signing import CheckpointSigner, InvalidSigningKeyError, seed_from_text
from projections.event_decoder import EventDecoder
from syncline.audit_cli import verify
from syncline.config import Settings
from syncline.runtime import Runtime, audit_signer
from tests.conftest import TenantClient
from tests.integration.audit_helpers import chain_rows, execute, history, set_state, stored_row
from tests.support.audit import make_history
from tests.support.receiver import Receiver
from tests.support.webhooks import Workers, subscribe


def test_a_webhook_subscribed_to_checkpoints_receives_them(
    runtime: Runtime, hooks_tenant: TenantClient, receiver: Receiver, workers: Workers, caught_up
) -> None:
    subscribe(hooks_tenant, receiver.url + "/audit", ["audit.*"])
    workers.start()
    make_history(hooks_tenant, 2)
    caught_up()
    [made] = runtime.checkpointer().checkpoint(UUID(hooks_tenant.id))
    assert receiver.wait_count(1, "/audit")
    [event] = receiver.events("/audit")
    assert event["type"] == "audit.checkpoint"
    assert {k: event["data"][k] for k in made} == made


def test_a_long_chain_is_signed_every_so_many_events_and_only_when_due(runtime: Runtime) -> None:
    tenant, _ = history(runtime, 7)
    assert runtime.wait_for_projections()
    now = [datetime.now(UTC)]
    checkpointer = runtime.checkpointer(every_events=3, every_seconds=60, clock=lambda: now[0])
    assert tenant in checkpointer.due()  # never checkpointed
    assert [c["sequence"] for c in checkpointer.checkpoint(tenant)] == [3, 6, 7]
    assert runtime.wait_for_projections()
    assert tenant not in checkpointer.moved()
    assert checkpointer.checkpoint(tenant) == []  # the head is signed already
    history(runtime, 1, tenant)
    assert runtime.wait_for_projections()
    assert tenant in checkpointer.moved()
    assert tenant not in checkpointer.due()  # moved, but signed a moment ago
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE audit_heads SET checkpointed_at = %s WHERE tenant_id = %s",
            (now[0] - timedelta(seconds=60), tenant),
        )
    assert tenant in checkpointer.due()  # a minute later
    assert checkpointer.run_due() >= 1
    assert runtime.wait_for_projections()
    out = io.StringIO()
    assert verify(runtime, tenant, stream=out) == 0
    assert "4 checkpoints verified" in out.getvalue()


def test_a_rewritten_chain_is_caught_by_its_checkpoint(runtime: Runtime) -> None:
    """Someone modifies an event and recomputes the chain table to match: the signed
    checkpoint still names the difference."""
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    runtime.checkpointer().checkpoint(tenant)
    assert runtime.wait_for_projections()
    rows = chain_rows(runtime, tenant)
    original = stored_row(runtime, rows[1][1])
    set_state(runtime, rows[1][1], bytes(original[4]).replace(b"New", b"Old"))
    decoder = EventDecoder(runtime.app.mapper)
    previous = rows[0][3]
    try:
        for sequence, position, _, _ in rows[1:]:
            _, *stored = stored_row(runtime, position)
            event = decoder.decode(stored[0], stored[1], stored[2], bytes(stored[3]))
            previous = next_hash(previous, canonical_bytes(event, str(public_type(event))))
            execute(
                runtime,
                "UPDATE audit_chain SET chain_hash = %s WHERE tenant_id = %s AND sequence = %s",
                (previous, tenant, sequence),
            )
        out = io.StringIO()
        assert verify(runtime, tenant, stream=out) == 1
        assert "sequence 3" in out.getvalue()
        assert "checkpoint signed is not the chain's" in out.getvalue()
    finally:
        set_state(runtime, rows[1][1], bytes(original[4]))
        for sequence, _, _, chain_hash in rows:
            execute(
                runtime,
                "UPDATE audit_chain SET chain_hash = %s WHERE tenant_id = %s AND sequence = %s",
                (chain_hash, tenant, sequence),
            )
    assert verify(runtime, tenant, stream=io.StringIO()) == 0


def test_the_configured_key_signs_and_every_key_is_kept(
    runtime: Runtime, admin: httpx.Client
) -> None:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    signer = audit_signer(runtime.pool, base64.b64encode(seed).decode())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert signer.public_key == public
    private.public_key().verify(base64.b64decode(signer.sign(b"message")), b"message")
    generated = audit_signer(runtime.pool, None)
    assert generated.key_id == audit_signer(runtime.pool, None).key_id  # stored, not remade
    with psycopg.connect(runtime.database_url) as conn:
        kept = {row[0] for row in conn.execute("SELECT key_id FROM audit_keys")}
    assert {signer.key_id, generated.key_id} <= kept


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(bytes(31)).decode()])
def test_a_malformed_signing_key_is_refused(text: str) -> None:
    with pytest.raises(InvalidSigningKeyError):
        seed_from_text(text)
    assert CheckpointSigner(bytes(32)).key_id.startswith("ed25519:")


def test_the_worker_schedules_the_checkpoints(test_settings: Settings) -> None:
    worker = Runtime.open(test_settings, pool_size=2)
    try:
        checkpointer = worker.start_audit_checkpoints()
        assert worker.scheduler is not None
        job = worker.scheduler.get_job("audit-checkpoints")
        assert job is not None
        assert job.trigger.interval == timedelta(seconds=JOB_INTERVAL)
        assert job.func == checkpointer.run_due
        assert checkpointer.every_seconds == 60
        assert checkpointer.every_events == 1000
    finally:
        worker.close()


def test_closing_waits_for_a_scheduled_job_that_is_running(test_settings: Settings) -> None:
    worker = Runtime.open(test_settings, pool_size=2)
    started, answers = threading.Event(), []

    def job() -> None:  # a job that is still using the pool when the process stops
        started.set()
        time.sleep(0.3)
        with worker.pool.connection() as conn:
            answers.append(conn.execute("SELECT 1").fetchone())

    try:
        worker.start_audit_checkpoints()
        assert worker.scheduler is not None
        worker.scheduler.add_job(
            job, "interval", hours=1, next_run_time=datetime.now(UTC), id="still-running"
        )
        assert started.wait(10)
    finally:
        worker.close()
    assert answers == [(1,)]
