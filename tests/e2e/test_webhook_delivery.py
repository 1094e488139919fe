"""Webhook delivery over real HTTP: signatures, filters, retries, 410, ordering, lifecycles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from delivery.retry import RetrySchedule
from domain.envelope import event_id
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.clock import FakeClock
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import (
    Workers,
    attempt_count,
    contact,
    deliveries,
    latest_status,
    settled_all,
    subscribe,
)

FAST = RetrySchedule(delays=(0, 0.2, 0.2, 0.2), jitter=0)


def test_a_delivery_is_signed_so_the_reference_library_verifies_it(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers
) -> None:
    hook = subscribe(hooks_tenant, receiver.url + "/in", ["contact.created"])
    workers.start()
    created = contact(hooks_tenant, "signed@example.com", **{"X-Request-ID": "req-signed-1"})
    assert receiver.wait_count(1)

    request = receiver.received[0]
    event = Webhook(hook["secret"]).verify(request.body, request.headers)
    key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
    expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature-256"] == expected
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["x-event-type"] == "contact.created"
    assert request.headers["x-correlation-id"] == "req-signed-1"
    assert request.headers["user-agent"].startswith("Syncline-Webhooks/")
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert event["type"] == "contact.created"
    assert event["entity"] == {"type": "contact", "id": created["id"], "version": 1}
    assert event["data"] == created
    assert event["tenant_id"] == hooks_tenant.id
    assert event["correlation_id"] == "req-signed-1"
    assert event["cursor"]


def test_subscriptions_get_only_their_types_and_wildcards(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers, caught_up: Any
) -> None:
    hooks = [
        subscribe(hooks_tenant, receiver.url + "/orders", ["order.*"]),
        subscribe(hooks_tenant, receiver.url + "/paid", ["order.paid", "contact.deleted"]),
        subscribe(hooks_tenant, receiver.url + "/contacts", ["contact.created"]),
    ]
    workers.start()
    person = contact(hooks_tenant, "buyer@example.com")
    order = hooks_tenant.post(
        "/v1/orders",
        json={
            "contact_id": person["id"],
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 1, "unit_price": 100}],
        },
    ).json()
    for verb in ("place", "pay"):
        assert hooks_tenant.post(f"/v1/orders/{order['id']}/{verb}").status_code == 200

    assert receiver.wait_count(3, "/orders")
    assert receiver.wait_count(1, "/paid")
    assert receiver.wait_count(1, "/contacts")
    # Nothing else may arrive: once every event is matched and each webhook's history has
    # nothing left to send, no other delivery can come.
    caught_up()
    assert wait_until(lambda: all(settled_all(hooks_tenant, hook) for hook in hooks))
    assert [e["type"] for e in receiver.events("/orders")] == [
        "order.created",
        "order.placed",
        "order.paid",
    ]
    assert [e["type"] for e in receiver.events("/paid")] == ["order.paid"]
    assert [e["type"] for e in receiver.events("/contacts")] == ["contact.created"]


def test_a_failing_endpoint_is_retried_until_it_answers(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    answers = iter([500, 503, 200])
    with Receiver(lambda _: next(answers, 200)) as flaky:
        hook = subscribe(hooks_tenant, flaky.url, ["contact.created"])
        workers.start(schedule=FAST)
        contact(hooks_tenant, "retry@example.com")
        assert flaky.wait_count(3)
    ids = {r.headers["webhook-id"] for r in flaky.received}
    bodies = {r.body for r in flaky.received}
    assert len(ids) == 1
    assert len(bodies) == 1

    def settled() -> bool:
        found = deliveries(hooks_tenant, hook["id"])
        return bool(found) and found[0]["status"] == "delivered"

    assert wait_until(settled)
    [delivery] = deliveries(hooks_tenant, hook["id"])
    assert delivery["attempt_count"] == 3
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert [a["outcome"] for a in delivery["attempts"]] == ["http_error", "http_error", "delivered"]
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])
    assert delivery["attempts"][0]["error"] == "HTTP 500"


def test_retry_after_is_honoured_with_the_standard_schedule(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    clock = FakeClock(ticking=True)
    answers = iter([(429, {"Retry-After": "3600"})])
    with Receiver(lambda _: next(answers, 200)) as busy:
        hook = subscribe(hooks_tenant, busy.url, ["contact.created"])
        worker = workers.start(now=clock)
        contact(hooks_tenant, "later@example.com")
        assert wait_until(lambda: attempt_count(hooks_tenant, hook["id"]) == 1)
        [waiting] = deliveries(hooks_tenant, hook["id"])
        asked = datetime.fromisoformat(waiting["next_attempt_at"]) - datetime.fromisoformat(
            waiting["attempts"][0]["attempted_at"]
        )
        assert asked >= timedelta(seconds=3600)  # the hour, not the schedule's 5 s
        clock.advance(seconds=60)  # past the 5 s step, well before the hour asked for
        worker.wake()
        assert not busy.wait_count(2, timeout=1.0)
        clock.advance(seconds=3600)
        worker.wake()
        assert busy.wait_count(2)
    assert wait_until(lambda: latest_status(hooks_tenant, hook["id"]) == "delivered")


def test_410_gone_disables_the_webhook_and_says_so(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers, caught_up: Any
) -> None:
    watcher = subscribe(hooks_tenant, receiver.url + "/watch", ["webhook.disabled"])
    with Receiver(lambda _: 410) as gone:
        hook = subscribe(hooks_tenant, gone.url, ["contact.*"])
        workers.start(schedule=FAST)
        contact(hooks_tenant, "gone1@example.com")
        assert gone.wait_count(1)
        assert receiver.wait_count(1, "/watch")
        contact(hooks_tenant, "gone2@example.com")
        caught_up()
        # Nothing more after the 410: the history holds the one delivery, settled, and
        # nothing pending that a worker could still send.
        assert wait_until(lambda: latest_status(hooks_tenant, hook["id"]) == "failed")
        assert len(deliveries(hooks_tenant, hook["id"])) == 1
        assert len(gone.received) == 1

    current = hooks_tenant.get(f"/v1/webhooks/{hook['id']}").json()
    assert current["status"] == "disabled"
    assert current["disabled_reason"] == "gone"
    [event] = receiver.events("/watch")
    assert event["type"] == "webhook.disabled"
    assert event["entity"] == {"type": "webhook", "id": hook["id"], "version": 2}
    assert event["data"]["disabled_reason"] == "gone"
    assert "secret" not in event["data"]
    assert event["previous"] == {"status": "active", "disabled_reason": None}
    # Only the endpoint that answered 410 is disabled (read back, not as created).
    assert hooks_tenant.get(f"/v1/webhooks/{watcher['id']}").json()["status"] == "active"
    caught_up()
    # The same event, the same envelope, in the audit log; not in the (records) change feed.
    logged = hooks_tenant.get("/v1/events", params={"types": "webhook.disabled"}).json()
    assert [e["id"] for e in logged["data"]] == [event["id"]]
    assert logged["data"][0]["data"] == event["data"]
    feed = hooks_tenant.get("/v1/changes").json()["data"]
    assert hook["id"] not in [change["id"] for change in feed]


def test_after_a_410_the_records_next_delivery_is_not_sent(
    hooks_tenant: TenantClient, workers: Workers, caught_up: Any
) -> None:
    with Receiver(lambda _: 410) as gone:
        hook = subscribe(hooks_tenant, gone.url, ["contact.*"])
        record = contact(hooks_tenant, "queued@example.com")["id"]
        for name in ("one", "two"):  # queued behind the created event, one record's queue
            hooks_tenant.patch(f"/v1/contacts/{record}", json={"name": name})
        caught_up()
        workers.start(schedule=FAST)
        assert gone.wait_count(1)
        # Settled: the 410'd delivery failed, and the disable cancelled the ones behind it
        # (a definite state, reached whether or not they had been sent).
        assert wait_until(
            lambda: (
                sorted(d["status"] for d in deliveries(hooks_tenant, hook["id"]))
                == ["cancelled", "cancelled", "failed"]
            )
        )
        assert [r.event["type"] for r in gone.received] == ["contact.created"]
        behind = [d for d in deliveries(hooks_tenant, hook["id"]) if d["status"] == "cancelled"]
        for delivery in behind:
            detail = hooks_tenant.get(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}")
            assert detail.json()["attempts"] == []


def test_events_of_one_record_arrive_in_order_while_records_go_in_parallel(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    records, updates = 4, 8
    # A slow endpoint that refuses the first try of every third version, so that later
    # events are ready while earlier ones are still in flight or waiting for their retry.
    seen: set[str] = set()
    lock = threading.Lock()

    def respond(request: Any) -> int:
        event = request.event
        with lock:
            first = event["id"] not in seen
            seen.add(event["id"])
        time.sleep(0.02)
        return 500 if first and event["entity"]["version"] % 3 == 0 else 200

    with Receiver(respond) as slow:
        hook = subscribe(hooks_tenant, slow.url, ["contact.*"])
        workers.start(schedule=FAST, concurrency=8)
        workers.start(schedule=FAST, concurrency=8)
        ids = [contact(hooks_tenant, f"o{i}@example.com")["id"] for i in range(records)]

        def update(contact_id: str) -> None:
            for n in range(updates):
                r = hooks_tenant.patch(f"/v1/contacts/{contact_id}", json={"name": f"v{n}"})
                assert r.status_code == 200

        threads = [threading.Thread(target=update, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = records * (1 + updates)
        ok = wait_until(
            lambda: (
                len({e["id"] for e in slow.events()}) >= total and settled_all(hooks_tenant, hook)
            )
        )
        assert ok
    for contact_id in ids:
        sent = [r for r in slow.received if r.event["entity"]["id"] == contact_id]
        tried = [r.event["entity"]["version"] for r in sent]
        accepted = [r.event["entity"]["version"] for r in sent if r.status == 200]
        # Never a later version before the earlier one was accepted; each accepted once.
        assert tried == sorted(tried), tried
        assert accepted == list(range(1, updates + 2)), accepted
    assert any(r.status == 500 for r in slow.received)


def test_subscriptions_created_or_deleted_mid_stream_get_exactly_their_events(
    hooks_tenant: TenantClient,
    receiver: Receiver,
    workers: Workers,
    runtime: Runtime,
    caught_up: Any,
) -> None:
    doomed = subscribe(hooks_tenant, receiver.url + "/doomed", ["contact.created"])
    workers.start()
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            contact(hooks_tenant, f"stream{i}@example.com")
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)
    late = subscribe(hooks_tenant, receiver.url + "/late", ["contact.created"])
    time.sleep(0.3)
    assert hooks_tenant.delete(f"/v1/webhooks/{doomed['id']}").status_code == 204
    time.sleep(0.3)
    stop.set()
    writer.join()
    caught_up()

    # Decide from the log itself which contact.created events each should have.
    log = tenant_log(runtime, hooks_tenant.id)
    late_from = log.position(late["id"], "Created")
    doomed_from = log.position(doomed["id"], "Created")
    doomed_until = log.position(doomed["id"], "Deleted")
    late_expected = {p for p in log.contacts_created if p > late_from}
    doomed_expected = {p for p in log.contacts_created if doomed_from < p < doomed_until}
    assert late_expected
    assert doomed_expected
    assert late_expected - doomed_expected

    assert enqueued_positions(runtime, late["id"]) == late_expected
    assert enqueued_positions(runtime, doomed["id"]) == doomed_expected
    assert receiver.wait_count(len(late_expected), "/late")
    by_id = log.positions_by_event_id
    assert {by_id[e["id"]] for e in receiver.events("/late")} == late_expected
    assert {by_id[e["id"]] for e in receiver.events("/doomed")} <= doomed_expected


class TenantLog:
    def __init__(self) -> None:
        self.contacts_created: list[int] = []
        self.webhook_events: dict[tuple[str, str], int] = {}
        self.positions_by_event_id: dict[str, int] = {}

    def position(self, webhook_id: str, kind: str) -> int:
        return self.webhook_events[webhook_id, kind]


def tenant_log(runtime: Runtime, tenant_id: str) -> TenantLog:
    """Positions of the tenant's contact creations and webhook events, read from the log."""
    log = TenantLog()
    position = 0
    while True:
        page = runtime.app.recorder.select_notifications(  # type: ignore[attr-defined]
            start=position, limit=1000, inclusive_of_start=False
        )
        if not page:
            return log
        for notification in page:
            event = runtime.app.mapper.to_domain_event(notification)
            meta = getattr(event, "meta", {}) or {}
            if meta.get("tenant_id") != tenant_id:
                continue
            name = type(event).__qualname__
            if name == "Contact.Created":
                log.contacts_created.append(notification.id)
            elif name.startswith("WebhookSubscription."):
                log.webhook_events[str(event.originator_id), name.split(".")[1]] = notification.id
            log.positions_by_event_id[event_id(event.originator_id, event.originator_version)] = (
                notification.id
            )
        position = page[-1].id


def enqueued_positions(runtime: Runtime, webhook_id: str) -> set[int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT position FROM webhook_deliveries WHERE subscription_id = %s AND origin = 'log'",
            (webhook_id,),
        ).fetchall()
    return {row[0] for row in rows}


def test_a_ping_goes_to_that_webhook_only(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers
) -> None:
    hook = subscribe(hooks_tenant, receiver.url + "/pinged", ["contact.created"])
    subscribe(hooks_tenant, receiver.url + "/other", ["webhook.*"])
    workers.start()
    response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/test")
    assert response.status_code == 202
    sent = response.json()
    assert sent["type"] == "webhook.ping"
    assert receiver.wait_count(1, "/pinged")
    [request] = [r for r in receiver.received if r.path == "/pinged"]
    assert Webhook(hook["secret"]).verify(request.body, request.headers) == sent

    assert hooks_tenant.patch(f"/v1/webhooks/{hook['id']}", json={"status": "disabled"}).json()[
        "status"
    ] == ("disabled")
    # The barrier: /other gets the webhook's next event, which a ping sent there would have
    # preceded (one record's events reach one endpoint in order); it is the only one.
    assert receiver.wait_for(lambda r: bool(r.events("/other")))
    [other] = receiver.events("/other")
    assert other["entity"]["id"] == hook["id"]
    assert other["type"] != "webhook.ping"
    refused = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/test")
    assert refused.status_code == 409


def test_after_rotation_both_secrets_sign_until_the_grace_ends(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers, caught_up: Any
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    rotated = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != hook["secret"]
    assert "secret" not in hooks_tenant.get(f"/v1/webhooks/{hook['id']}").json()
    workers.start()
    contact(hooks_tenant, "rotating@example.com")
    assert receiver.wait_count(1)
    request = receiver.received[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(hook["secret"]).verify(request.body, request.headers)
    key = base64.b64decode(new_secret.removeprefix("whsec_"))
    assert request.headers["x-signature-256"] == (
        "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    )

    # Another rotation with a grace would end the first one's early: a conflict, nothing
    # changes (the next delivery is still signed with both).
    again = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/rotate-secret")
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    assert rotated.json()["previous_secret_expires_at"] in again.json()["detail"]
    contact(hooks_tenant, "still-both@example.com")
    assert receiver.wait_count(2)
    Webhook(hook["secret"]).verify(receiver.received[1].body, receiver.received[1].headers)

    # With no grace (a leaked secret) it is always allowed, and ends every earlier secret.
    final = hooks_tenant.post(
        f"/v1/webhooks/{hook['id']}/rotate-secret", json={"grace_period_seconds": 0}
    ).json()["secret"]
    caught_up()  # the subscriber has applied the rotation before the next event
    contact(hooks_tenant, "rotated@example.com")
    assert receiver.wait_count(3)
    request = receiver.received[2]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(final).verify(request.body, request.headers)


def test_replay_resends_matching_events_after_a_cursor(
    hooks_tenant: TenantClient,
    other_tenant: TenantClient,
    receiver: Receiver,
    workers: Workers,
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    workers.start()
    ids = [contact(hooks_tenant, f"replay{i}@example.com")["id"] for i in range(3)]
    hooks_tenant.patch(f"/v1/contacts/{ids[0]}", json={"name": "not subscribed to"})
    contact(other_tenant, "not-mine@example.com")
    assert hooks_tenant.post(f"/v1/webhooks/{hook['id']}/test").status_code == 202
    assert receiver.wait_count(4)
    # Different records are delivered in parallel: take them in log (creation) order.
    by_record = {e["entity"]["id"]: e for e in receiver.events() if e["type"] != "webhook.ping"}
    first, *rest = (by_record[record_id] for record_id in ids)

    response = hooks_tenant.post(
        f"/v1/webhooks/{hook['id']}/replay", json={"after": first["cursor"]}
    )
    assert response.status_code == 202, response.text
    # The ping was a test, not one of the events the webhook matches: not replayed.
    assert response.json()["enqueued"] == 2
    assert receiver.wait_count(6)
    replayed = receiver.events()[4:]
    assert sorted(e["id"] for e in replayed) == sorted(e["id"] for e in rest)
    # A replay re-sends the same bytes (deliveries arrive in any order: match by record).
    originals = {r.body for r in receiver.received[:4] if r.event["entity"]["id"] in ids[1:]}
    assert {r.body for r in receiver.received[4:]} == originals
    assert sum(d["replay"] for d in deliveries(hooks_tenant, hook["id"])) == 2


def test_metrics_show_backlog_outcomes_and_latency(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers, http: Any
) -> None:
    subscribe(hooks_tenant, receiver.url, ["contact.created"])
    workers.start()
    contact(hooks_tenant, "metrics@example.com")
    assert receiver.wait_count(1)

    def delivered_metric() -> str:
        text: str = http.get("/metrics").text
        return text if 'syncline_webhook_attempts_total{outcome="delivered"}' in text else ""

    assert wait_until(lambda: bool(delivered_metric()))
    text = delivered_metric()
    assert "syncline_webhook_backlog " in text
    assert 'syncline_webhook_attempt_seconds_bucket{le="+Inf"}' in text
    assert "syncline_webhook_delivery_seconds_count" in text


def test_redirects_are_not_followed_and_slow_endpoints_time_out(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers
) -> None:
    def slow(_: Any) -> int:
        time.sleep(1.5)
        return 200

    with (
        Receiver(lambda _: (302, {"Location": receiver.url + "/elsewhere"})) as moved,
        Receiver(slow) as sleepy,
    ):
        redirected = subscribe(hooks_tenant, moved.url, ["contact.created"])
        timed_out = subscribe(hooks_tenant, sleepy.url, ["contact.created"])
        workers.start(schedule=RetrySchedule(delays=(0,)), timeout=0.5)
        contact(hooks_tenant, "nowhere@example.com")
        assert wait_until(lambda: latest_status(hooks_tenant, redirected["id"]) == "failed")
        assert wait_until(lambda: latest_status(hooks_tenant, timed_out["id"]) == "failed")
    [attempt] = deliveries(hooks_tenant, redirected["id"])[0]["attempts"]
    assert attempt["status_code"] == 302
    assert attempt["error"] == "HTTP 302 (redirects are not followed)"
    assert receiver.received == []
    [attempt] = deliveries(hooks_tenant, timed_out["id"])[0]["attempts"]
    assert attempt["outcome"] == "timeout"
    assert attempt["status_code"] is None


def test_delivery_status_is_derived_from_attempts_and_cancellations_and_filters(
    hooks_tenant: TenantClient, workers: Workers, caught_up: Any
) -> None:
    answer = [500]
    with Receiver(lambda _: answer[0]) as endpoint:
        hook = subscribe(hooks_tenant, endpoint.url, ["contact.created"])
        doomed = subscribe(hooks_tenant, "http://127.0.0.1:9/", ["contact.created"])
        contact(hooks_tenant, "given-up@example.com")
        caught_up()  # enqueued for both; no worker yet
        hooks_tenant.patch(f"/v1/webhooks/{doomed['id']}", json={"status": "disabled"})
        caught_up()  # cancelled before any worker could try it
        workers.start(schedule=RetrySchedule(delays=(0, 0.1), jitter=0))
        assert wait_until(lambda: latest_status(hooks_tenant, hook["id"]) == "failed")
        answer[0] = 200
        contact(hooks_tenant, "delivered@example.com")
        assert wait_until(lambda: latest_status(hooks_tenant, hook["id"]) == "delivered")

    delivered, failed = deliveries(hooks_tenant, hook["id"])
    assert (delivered["status"], delivered["attempt_count"], delivered["last_error"]) == (
        "delivered",
        1,
        None,
    )
    assert delivered["finished_at"] == delivered["attempts"][0]["attempted_at"]
    assert (failed["status"], failed["attempt_count"], failed["last_error"]) == (
        "failed",
        2,
        "HTTP 500",
    )
    assert failed["finished_at"] == failed["attempts"][-1]["attempted_at"]
    assert delivered["next_attempt_at"] is None
    assert failed["next_attempt_at"] is None
    [cancelled] = deliveries(hooks_tenant, doomed["id"])
    assert (cancelled["status"], cancelled["attempt_count"], cancelled["attempts"]) == (
        "cancelled",
        0,
        [],
    )
    assert cancelled["last_error"] == "the webhook was disabled"
    assert cancelled["finished_at"] is not None

    def listed(hook_id: str, status: str) -> list[str]:
        response = hooks_tenant.get(f"/v1/webhooks/{hook_id}/deliveries", params={"status": status})
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["data"]]

    assert listed(hook["id"], "delivered") == [delivered["id"]]
    assert listed(hook["id"], "failed") == [failed["id"]]
    assert listed(hook["id"], "pending") == []
    assert listed(doomed["id"], "cancelled") == [cancelled["id"]]
    assert listed(doomed["id"], "failed") == []


def test_a_cookie_one_endpoint_sets_is_never_sent_to_another(
    hooks_tenant: TenantClient, other_tenant: TenantClient, workers: Workers
) -> None:
    """One HTTP session sends every tenant's deliveries: it must keep no cookies, or one
    endpoint's cookie would reach another tenant's endpoint on the same host."""

    def set_cookie(request: Any) -> tuple[int, dict[str, str]]:
        if request.path == "/setter":
            return 200, {"Set-Cookie": "session=of-the-setter; Path=/"}
        return 200, {}

    with Receiver(set_cookie) as shared:
        # By name: a cookie jar keeps no cookies of a bare IP address.
        host = shared.url.replace("127.0.0.1", "localhost")
        subscribe(hooks_tenant, host + "/setter", ["contact.created"])
        other = subscribe(other_tenant, host + "/other", ["contact.created"])
        try:
            workers.start()
            contact(hooks_tenant, "sets-a-cookie@example.com")
            assert shared.wait_count(1)
            contact(other_tenant, "gets-no-cookie@example.com")
            contact(hooks_tenant, "sets-it-again@example.com")
            assert shared.wait_count(3)
        finally:
            other_tenant.delete(f"/v1/webhooks/{other['id']}")
    assert sorted(r.path for r in shared.received) == ["/other", "/setter", "/setter"]
    assert [r.headers.get("cookie") for r in shared.received] == [None, None, None]
