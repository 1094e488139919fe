"""The delivery pipeline against real PostgreSQL: rebuilds, the 5-day disable, SSRF at send
time, secrets at rest, and a worker killed with SIGKILL mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any
from uuid import UUID

from psycopg import sql
from standardwebhooks import Webhook

from delivery.history import WITH_STATE
from delivery.jobs import DeliveryJobs
from delivery.secret_box import SecretBox
from delivery.subscriber import DeliveryProjection
from domain.context import Actor, Context
from syncline.runtime import Runtime
from tests.conftest import ROOT, TenantClient
from tests.support.clock import FakeClock
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    Workers,
    attempt_count,
    contact,
    deliveries,
    latest_status,
    subscribe,
)


def snapshot(cur: Any, tenant_id: str) -> dict[str, Any]:
    """What the subscriber made for one tenant: subscriptions, deliveries, queues."""
    subscriptions = cur.execute(
        "SELECT id, url, event_types, status, secret, previous_secret, version, created_position,"
        " enabled_at, data::text FROM webhook_subscriptions WHERE tenant_id = %s ORDER BY id",
        (tenant_id,),
    ).fetchall()
    rows = cur.execute(
        "SELECT d.public_id, d.subscription_id, d.position, d.enqueued_position, d.origin,"
        f" s.state, d.body FROM {WITH_STATE} WHERE d.tenant_id = %s ORDER BY d.id",
        (tenant_id,),
    ).fetchall()
    queues = cur.execute(
        "SELECT q.subscription_id, q.entity_id FROM webhook_queues q"
        " JOIN webhook_deliveries d USING (subscription_id, entity_id)"
        " WHERE d.tenant_id = %s GROUP BY 1, 2 ORDER BY 1, 2",
        (tenant_id,),
    ).fetchall()
    return {"subscriptions": subscriptions, "deliveries": rows, "queues": queues}


def test_rebuilding_the_subscriber_from_the_log_yields_the_same_deliveries(
    hooks_tenant: TenantClient, runtime: Runtime, caught_up: Any
) -> None:
    url = "http://127.0.0.1:9/"
    keep = subscribe(hooks_tenant, url + "keep", ["contact.*"])
    c = contact(hooks_tenant, "r1@example.com")
    toggled = subscribe(hooks_tenant, url + "toggled", ["contact.updated", "webhook.*"])
    gone = subscribe(hooks_tenant, url + "gone", ["contact.*"])
    hooks_tenant.patch(f"/v1/contacts/{c['id']}", json={"name": "one"})
    hooks_tenant.patch(f"/v1/webhooks/{toggled['id']}", json={"status": "disabled"})
    hooks_tenant.patch(f"/v1/contacts/{c['id']}", json={"name": "two"})
    hooks_tenant.patch(f"/v1/webhooks/{toggled['id']}", json={"status": "active"})
    hooks_tenant.post(f"/v1/webhooks/{keep['id']}/rotate-secret")
    hooks_tenant.post(f"/v1/webhooks/{keep['id']}/test")
    hooks_tenant.delete(f"/v1/webhooks/{gone['id']}")
    hooks_tenant.patch(f"/v1/contacts/{c['id']}", json={"name": "three"})
    caught_up()

    projection = DeliveryProjection(runtime.cursors)
    with runtime.pool.connection() as conn:
        conn.autocommit = False
        with conn.cursor() as cur:
            before = snapshot(cur, hooks_tenant.id)
            projection.clear(cur)
            position = 0
            while True:
                page = runtime.app.recorder.select_notifications(  # type: ignore[attr-defined]
                    start=position, limit=500, inclusive_of_start=False
                )
                if not page:
                    break
                events = [(n.id, runtime.app.mapper.to_domain_event(n)) for n in page]
                projection.process(cur, events)
                position = page[-1].id
            after = snapshot(cur, hooks_tenant.id)
        conn.rollback()  # a check, not a rebuild: leave the live tables as they were

    assert after == before
    states = {(row[1], row[5]) for row in before["deliveries"]}
    assert (UUID(gone["id"]), "cancelled") in states  # deleted before it was sent
    assert (UUID(toggled["id"]), "cancelled") in states  # disabled before it was sent
    assert (UUID(toggled["id"]), "pending") in states  # enqueued after the re-enable
    assert len(before["subscriptions"]) == 2


def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event(
    hooks_tenant: TenantClient, runtime: Runtime, workers: Workers, receiver: Receiver
) -> None:
    clock = FakeClock(ticking=True)
    watcher = subscribe(hooks_tenant, receiver.url + "/watch", ["webhook.disabled"])
    recovering = iter([500])
    with (
        Receiver(lambda _: 500) as broken,
        Receiver(lambda _: next(recovering, 200)) as flaky,
    ):
        failing = subscribe(hooks_tenant, broken.url, ["contact.created"])
        recovered = subscribe(hooks_tenant, flaky.url, ["contact.created"])
        worker = workers.start(now=clock)
        contact(hooks_tenant, "down@example.com")
        # Move the clock only once the failures are recorded (else the lease would end).
        assert wait_until(lambda: attempt_count(hooks_tenant, failing["id"]) == 1)
        assert wait_until(lambda: attempt_count(hooks_tenant, recovered["id"]) == 1)
        clock.advance(seconds=7)  # the 5 s retry is due
        worker.wake()
        assert broken.wait_count(2)
        assert flaky.wait_count(2)
        assert wait_until(lambda: latest_status(hooks_tenant, recovered["id"]) == "delivered")
        assert wait_until(lambda: attempt_count(hooks_tenant, failing["id"]) == 2)

        jobs = DeliveryJobs(runtime.disable_webhook, runtime.pool, now=clock)
        clock.advance(days=4)
        assert UUID(failing["id"]) not in jobs.disable_failing()
        clock.advance(days=1)
        disabled = jobs.disable_failing()
    assert UUID(failing["id"]) in disabled
    assert UUID(recovered["id"]) not in disabled
    state = hooks_tenant.get(f"/v1/webhooks/{failing['id']}").json()
    assert (state["status"], state["disabled_reason"]) == ("disabled", "failing")
    assert hooks_tenant.get(f"/v1/webhooks/{recovered['id']}").json()["status"] == "active"
    assert receiver.wait_count(1, "/watch")
    [event] = receiver.events("/watch")
    assert event["type"] == "webhook.disabled"
    assert event["entity"]["id"] == failing["id"]
    assert event["actor"] == {"type": "system", "id": "syncline"}
    assert jobs.disable_failing() == []  # already disabled: no second event
    # The watcher, whose endpoint answers, is still active (read back, not as created).
    assert hooks_tenant.get(f"/v1/webhooks/{watcher['id']}").json()["status"] == "active"


def test_history_past_retention_is_purged(
    hooks_tenant: TenantClient, runtime: Runtime, workers: Workers, receiver: Receiver
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    with Receiver(lambda _: 500) as broken:
        retrying = subscribe(hooks_tenant, broken.url, ["contact.created"])
        workers.start()
        contact(hooks_tenant, "old@example.com")
        assert wait_until(lambda: attempt_count(hooks_tenant, hook["id"]) == 1)
        assert wait_until(lambda: attempt_count(hooks_tenant, retrying["id"]) == 1)
    clock = FakeClock(ticking=True)
    jobs = DeliveryJobs(runtime.disable_webhook, runtime.pool, now=clock)
    jobs.purge_history()
    assert len(deliveries(hooks_tenant, hook["id"])) == 1  # a fresh history is kept
    clock.advance(days=31)
    assert jobs.purge_history() >= 1
    assert deliveries(hooks_tenant, hook["id"]) == []
    # A delivery still being retried is kept, with its attempts.
    [kept] = deliveries(hooks_tenant, retrying["id"])
    assert (kept["status"], kept["attempt_count"]) == ("pending", 1)


def test_private_targets_are_refused_at_send_time(
    hooks_tenant: TenantClient, workers: Workers, receiver: Receiver
) -> None:
    by_ip = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    by_name = subscribe(
        hooks_tenant, receiver.url.replace("127.0.0.1", "localhost"), ["contact.created"]
    )
    workers.start(allow_private=False)
    contact(hooks_tenant, "inside@example.com")

    def refused(hook: dict[str, Any]) -> list[dict[str, Any]]:
        found = deliveries(hooks_tenant, hook["id"])
        return found[0]["attempts"] if found and found[0]["attempts"] else []

    assert wait_until(lambda: bool(refused(by_ip)) and bool(refused(by_name)))
    for hook, reason in ((by_ip, "127.0.0.1 is a loopback"), (by_name, "localhost resolves")):
        [attempt] = refused(hook)
        assert attempt["outcome"] == "refused"
        assert attempt["status_code"] is None
        assert reason in attempt["error"]
    assert receiver.received == []


def test_secrets_are_encrypted_at_rest_under_the_server_key(
    tenant: TenantClient, runtime: Runtime, workers: Workers, receiver: Receiver, caught_up: Any
) -> None:
    box = SecretBox("a server key for this test")
    ctx = Context(UUID(tenant.id), Actor("api_key", "test"), "at-rest")
    hook, secret = runtime.app.create_webhook(
        ctx, url=receiver.url, event_types=["contact.created"], description=None, seal=box.seal
    )
    table = runtime.app.recorder.events_table_name  # type: ignore[attr-defined]
    with runtime.pool.connection() as conn:
        stored = b"".join(
            bytes(row[0])
            for row in conn.execute(
                sql.SQL("SELECT state FROM {} WHERE originator_id = %s").format(
                    sql.Identifier(table)
                ),
                (hook.id,),
            )
        )
        caught_up()
        kept = conn.execute(
            "SELECT secret FROM webhook_subscriptions WHERE id = %s", (hook.id,)
        ).fetchone()
    key_part = secret.removeprefix("whsec_").encode()
    assert stored
    assert key_part not in stored
    assert kept is not None
    assert kept[0].startswith("fernet:")
    assert secret not in kept[0]

    workers.start(secret_box=box)
    contact(tenant, "sealed@example.com")
    assert receiver.wait_count(1)
    Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    ctx_delete = Context(UUID(tenant.id), Actor("api_key", "test"), "cleanup")
    runtime.app.change_webhook(ctx_delete, hook.id, lambda s: s.delete(ctx_delete))


def test_a_worker_killed_mid_stream_loses_nothing(
    hooks_tenant: TenantClient, database_url: str, caught_up: Any
) -> None:
    total = 80

    def slowly(_: Any) -> int:
        time.sleep(0.03)
        return 200

    with Receiver(slowly) as slow:
        hook = subscribe(hooks_tenant, slow.url, ["contact.created"])
        ids = {contact(hooks_tenant, f"k{i}@example.com")["id"] for i in range(total)}
        caught_up()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS": "1",
            "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS": "2",
            "SYNCLINE_WEBHOOK_CONCURRENCY": "8",
            "SYNCLINE_LOG_LEVEL": "ERROR",
        }
        command = [sys.executable, "-m", "syncline.cli", "worker"]
        first = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            assert slow.wait_count(10, timeout=60), "the first worker sent nothing"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            first.kill()
        at_kill = {e["entity"]["id"] for e in slow.events()}
        assert len(at_kill) < total, "the stream had already finished; nothing was tested"

        second = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            assert slow.wait_for(
                lambda r: {e["entity"]["id"] for e in r.events()} >= ids, timeout=60
            ), "events were lost"
            # What the killed worker had in flight is sent again once its lease runs out,
            # so every delivery ends up settled as delivered.
            assert wait_until(
                lambda: all(
                    d["status"] == "delivered" for d in deliveries(hooks_tenant, hook["id"])
                ),
                timeout=60,
            )
        finally:
            second.terminate()
            second.wait(timeout=20)
    assert len(slow.received) >= total


def delivered_signed(
    tenant: TenantClient,
    workers: Workers,
    receiver: Receiver,
    secret_box: SecretBox,
    secret: str,
    email: str,
) -> None:
    """A worker with `secret_box` delivers the next contact, signed with `secret`."""
    workers.start(secret_box=secret_box)
    contact(tenant, email)
    assert receiver.wait_count(1)
    Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)


def test_with_the_old_server_key_listed_as_previous_a_webhook_keeps_delivering(
    tenant: TenantClient, runtime: Runtime, workers: Workers, receiver: Receiver, caught_up: Any
) -> None:
    # The operator rotates SYNCLINE_SECRET_KEY and lists the old one in
    # SYNCLINE_SECRET_KEYS_PREVIOUS: a secret sealed under the old key still signs.
    old_box = SecretBox("the key before")
    rotated_box = SecretBox("the key after", previous_keys=["the key before"])
    ctx = Context(UUID(tenant.id), Actor("api_key", "test"), "key-rotation")
    hook, secret = runtime.app.create_webhook(
        ctx, url=receiver.url, event_types=["contact.created"], description=None, seal=old_box.seal
    )
    caught_up()
    delivered_signed(tenant, workers, receiver, rotated_box, secret, "kept@example.com")
    runtime.app.change_webhook(ctx, hook.id, lambda s: s.delete(ctx))


def test_after_the_server_key_changes_a_rotated_secret_signs_at_once(
    tenant: TenantClient, runtime: Runtime, workers: Workers, receiver: Receiver, caught_up: Any
) -> None:
    old_box, new_box = SecretBox("the key before"), SecretBox("the key after")
    ctx = Context(UUID(tenant.id), Actor("api_key", "test"), "key-change")
    hook, _ = runtime.app.create_webhook(
        ctx, url=receiver.url, event_types=["contact.created"], description=None, seal=old_box.seal
    )
    # The operator changed SYNCLINE_SECRET_KEY, then rotated the webhook's secret (default
    # grace period): the previous secret, sealed under the old key, cannot be opened.
    _, secret = runtime.app.rotate_webhook_secret(ctx, hook.id, seal=new_box.seal)
    caught_up()
    delivered_signed(tenant, workers, receiver, new_box, secret, "rotated@example.com")
    runtime.app.change_webhook(ctx, hook.id, lambda s: s.delete(ctx))
