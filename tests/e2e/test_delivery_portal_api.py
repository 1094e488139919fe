"""The API behind the delivery portal, over real HTTP to a real receiver: a delivery's
attempts with the endpoint's answers (capped, as strings), "retry now", filtered delivery
pages, replay since a time; each refusing foreign ids and bad input."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
from standardwebhooks import Webhook

from delivery.response import MAX_BODY_BYTES
from delivery.retry import RetrySchedule
from syncline.runtime import Runtime
from tests.conftest import TenantClient, provision
from tests.support.poll import eventually
from tests.support.problems import assert_problem
from tests.support.receiver import Received, Receiver
from tests.support.webhooks import Workers, contact, deliveries, subscribe

ONE_TRY = RetrySchedule(delays=(0,), jitter=0)  # a failure gives the delivery up at once
TWO_TRIES = RetrySchedule(delays=(0, 0.2), jitter=0)


def only_delivery(tenant: TenantClient, hook: dict[str, Any]) -> dict[str, Any]:
    [delivery] = deliveries(tenant, hook["id"])
    return delivery


def detail(tenant: TenantClient, hook: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    response = tenant.get(f"/v1/webhooks/{hook['id']}/deliveries/{delivery_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


SENT_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Signature-256",
    "X-Event-Type",
    "X-Correlation-ID",
    "Content-Type",
    "User-Agent",
)


def assert_sent_as_received(sent: dict[str, str], received: Received) -> None:
    """The request headers an attempt kept are the ones the receiver got, the signatures
    included, and nothing else but what the HTTP client adds itself."""
    assert set(sent) == set(SENT_HEADERS)
    for name in SENT_HEADERS:
        assert sent[name] == received.headers[name.lower()], name
    assert sent["X-Signature-256"].startswith("sha256=")
    assert sent["webhook-signature"].startswith("v1,")


def settled_as(tenant: TenantClient, hook: dict[str, Any], status: str, attempts: int) -> Any:
    def check() -> bool:
        found = deliveries(tenant, hook["id"])
        return bool(found) and (found[0]["status"], found[0]["attempt_count"]) == (
            status,
            attempts,
        )

    return check


def test_a_failed_delivery_retried_now_is_delivered_and_each_answer_is_kept_capped(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    long_body = b"<script>alert('x')</script>\x00\xff" + b"y" * 6000
    answers = iter([(500, {"X-Trace": "abc", "Content-Type": "text/html"}, long_body)])
    with Receiver(lambda _: next(answers, 200)) as endpoint:
        hook = subscribe(hooks_tenant, endpoint.url, ["contact.created"])
        workers.start(schedule=ONE_TRY)
        contact(hooks_tenant, "retry-now@example.com")
        eventually(settled_as(hooks_tenant, hook, "failed", 1), "the delivery failed")
        failed = only_delivery(hooks_tenant, hook)

        shown = detail(hooks_tenant, hook, failed["id"])
        [attempt] = shown["attempts"]
        assert attempt["status_code"] == 500
        assert attempt["outcome"] == "http_error"
        assert attempt["latency_ms"] >= 0
        assert attempt["error"] == "HTTP 500"
        assert attempt["response_headers"]["X-Trace"] == "abc"
        assert attempt["response_headers"]["Content-Type"] == "text/html"
        assert attempt["response_body_truncated"] is True
        # The first 4 KiB as text: markup kept as data, NUL and invalid UTF-8 replaced.
        kept = long_body[:MAX_BODY_BYTES]
        assert attempt["response_body"] == kept.decode(errors="replace").replace("\x00", "\ufffd")
        assert attempt["response_body"].startswith("<script>alert('x')</script>\ufffd\ufffd")
        assert shown["request_body"].encode() == endpoint.received[0].body
        assert_sent_as_received(attempt["request_headers"], endpoint.received[0])
        assert hook["secret"] not in str(shown)
        # The kept signatures verify the kept body with the endpoint's secret.
        Webhook(hook["secret"]).verify(shown["request_body"], attempt["request_headers"])

        response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        assert response.json()["id"] == failed["id"]
        eventually(settled_as(hooks_tenant, hook, "delivered", 2), "the retry delivered it")

    first, second = endpoint.received
    assert second.body == first.body
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    retried = detail(hooks_tenant, hook, failed["id"])
    assert [a["outcome"] for a in retried["attempts"]] == ["http_error", "delivered"]
    last = retried["attempts"][1]
    assert (last["status_code"], last["response_body"]) == (200, "ok")
    assert last["response_body_truncated"] is False
    assert retried["finished_at"] == last["attempted_at"]
    assert_sent_as_received(last["request_headers"], second)
    # Each attempt is signed afresh: its own timestamp and signatures are what it kept.
    assert retried["attempts"][0]["request_headers"] == attempt["request_headers"]


def test_a_retry_that_fails_is_one_more_attempt_not_a_new_schedule(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    with Receiver(lambda _: 503) as down:
        hook = subscribe(hooks_tenant, down.url, ["contact.created"])
        workers.start(schedule=TWO_TRIES)
        contact(hooks_tenant, "still-down@example.com")
        eventually(settled_as(hooks_tenant, hook, "failed", 2), "the schedule gave up")
        failed = only_delivery(hooks_tenant, hook)
        response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry")
        assert response.status_code == 202, response.text
        # Failed again after exactly one more attempt: failed means no pending row, so
        # nothing more is scheduled.
        eventually(settled_as(hooks_tenant, hook, "failed", 3), "the retry failed")
        assert only_delivery(hooks_tenant, hook)["next_attempt_at"] is None


def test_a_pending_delivery_stops_waiting_for_its_retry_delay(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    answers = iter([500])
    with Receiver(lambda _: next(answers, 200)) as endpoint:
        hook = subscribe(hooks_tenant, endpoint.url, ["contact.created"])
        workers.start(schedule=RetrySchedule(delays=(0, 3600), jitter=0))
        contact(hooks_tenant, "impatient@example.com")
        eventually(settled_as(hooks_tenant, hook, "pending", 1), "the first attempt failed")
        waiting = only_delivery(hooks_tenant, hook)
        due = datetime.fromisoformat(waiting["next_attempt_at"])
        assert due - datetime.fromisoformat(waiting["attempts"][0]["attempted_at"]) >= timedelta(
            seconds=3500
        )
        response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/deliveries/{waiting['id']}/retry")
        assert response.status_code == 202, response.text
        assert datetime.fromisoformat(response.json()["next_attempt_at"]) < due
        eventually(settled_as(hooks_tenant, hook, "delivered", 2), "the retry delivered it")
    assert len(endpoint.received) == 2


def test_a_delivery_behind_its_records_retry_is_due_no_sooner_than_that_retry(
    hooks_tenant: TenantClient, workers: Workers, caught_up: Any
) -> None:
    with Receiver(lambda _: 500) as down:
        hook = subscribe(hooks_tenant, down.url, ["contact.*"])
        workers.start(schedule=RetrySchedule(delays=(0, 3600), jitter=0))
        record = contact(hooks_tenant, "behind@example.com")["id"]
        eventually(settled_as(hooks_tenant, hook, "pending", 1), "the first attempt failed")
        hooks_tenant.patch(f"/v1/contacts/{record}", json={"name": "behind it"})
        caught_up()
        behind, head = deliveries(hooks_tenant, hook["id"])  # newest first
        assert (behind["event_type"], head["event_type"]) == ("contact.updated", "contact.created")
        assert (behind["status"], behind["attempt_count"]) == ("pending", 0)
        # Not the time it was enqueued (long past by the head's retry): the head's retry.
        assert behind["next_attempt_at"] == head["next_attempt_at"]
        assert datetime.fromisoformat(behind["next_attempt_at"]) > datetime.now(UTC) + timedelta(
            seconds=3000
        )
    assert len(down.received) == 1


def test_a_delivery_in_flight_or_of_a_disabled_webhook_is_not_retried(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hold(_: Received) -> int:
        arrived.set()
        release.wait(20)
        return 200

    with Receiver(hold) as slow:
        hook = subscribe(hooks_tenant, slow.url, ["contact.created"])
        workers.start(timeout=30)
        contact(hooks_tenant, "in-flight@example.com")
        assert arrived.wait(20)  # the request is being answered: the delivery is in flight
        in_flight = only_delivery(hooks_tenant, hook)
        path = f"/v1/webhooks/{hook['id']}/deliveries/{in_flight['id']}/retry"
        assert_problem(hooks_tenant.post(path), 409, "being sent")
        release.set()
        eventually(settled_as(hooks_tenant, hook, "delivered", 1), "it was delivered")
        assert len(slow.received) == 1

        hooks_tenant.patch(f"/v1/webhooks/{hook['id']}", json={"status": "disabled"})
        assert_problem(hooks_tenant.post(path), 409, "disabled")
        assert only_delivery(hooks_tenant, hook)["attempt_count"] == 1


def test_delivery_routes_answer_404_for_foreign_or_unknown_ids(
    hooks_tenant: TenantClient, other_tenant: TenantClient, workers: Workers, receiver: Receiver
) -> None:
    mine = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    sibling = subscribe(hooks_tenant, receiver.url + "/sibling", ["contact.updated"])
    theirs = subscribe(other_tenant, receiver.url + "/theirs", ["contact.created"])
    workers.start()
    contact(hooks_tenant, "mine@example.com")
    contact(other_tenant, "theirs@example.com")
    assert receiver.wait_count(2)
    eventually(settled_as(other_tenant, theirs, "delivered", 1), "theirs was delivered")
    eventually(settled_as(hooks_tenant, mine, "delivered", 1), "mine was delivered")
    my_delivery = deliveries(hooks_tenant, mine["id"])[0]["id"]
    their_delivery = deliveries(other_tenant, theirs["id"])[0]["id"]

    for hook_id, delivery_id in [
        (theirs["id"], their_delivery),  # another tenant's webhook and delivery
        (mine["id"], their_delivery),  # my webhook, another tenant's delivery
        (sibling["id"], my_delivery),  # my delivery, under my other webhook
        (mine["id"], str(uuid4())),  # no such delivery
        (str(uuid4()), my_delivery),  # no such webhook
    ]:
        path = f"/v1/webhooks/{hook_id}/deliveries/{delivery_id}"
        assert_problem(hooks_tenant.get(path), 404)
        assert_problem(hooks_tenant.post(path + "/retry"), 404)
    for path in (f"/v1/webhooks/{theirs['id']}/stats", f"/v1/webhooks/{uuid4()}/stats"):
        assert_problem(hooks_tenant.get(path), 404)
    # The other tenant's delivery was not touched.
    assert deliveries(other_tenant, theirs["id"])[0]["attempt_count"] == 1


def test_a_deliveries_page_filters_by_state_type_and_time_and_pages_by_keyset(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    def answer(request: Received) -> int:
        return 500 if request.headers["x-event-type"] == "contact.updated" else 200

    with Receiver(answer) as endpoint:
        hook = subscribe(hooks_tenant, endpoint.url, ["contact.*"])
        workers.start(schedule=ONE_TRY)
        first = contact(hooks_tenant, "filter-1@example.com")
        second = contact(hooks_tenant, "filter-2@example.com")
        hooks_tenant.patch(f"/v1/contacts/{first['id']}", json={"name": "Changed"})

        def settled() -> bool:
            found = deliveries(hooks_tenant, hook["id"])
            return len(found) == 3 and all(d["status"] != "pending" for d in found)

        eventually(settled, "all three deliveries settled")

    def listed(**params: Any) -> list[dict[str, Any]]:
        response = hooks_tenant.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    everything = listed()
    assert [d["event_type"] for d in everything] == [
        "contact.updated",
        "contact.created",
        "contact.created",
    ]
    assert [d["event_type"] for d in listed(status="failed")] == ["contact.updated"]
    assert len(listed(status="delivered")) == 2
    assert listed(status="pending") == []
    assert listed(status="cancelled") == []
    assert [d["id"] for d in listed(event_type="contact.created")] == [
        d["id"] for d in everything[1:]
    ]
    assert listed(event_type="contact.deleted") == []
    assert listed(event_type="contact.updated", status="delivered") == []
    newest = everything[0]["occurred_at"]
    assert [d["id"] for d in listed(occurred_after=newest)] == [everything[0]["id"]]
    assert [d["id"] for d in listed(occurred_before=newest)] == [d["id"] for d in everything[1:]]

    # Keyset pages under a filter: each delivery once, newest first, the cursor ending it.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, "status": "delivered"}
        if cursor:
            params["cursor"] = cursor
        page = hooks_tenant.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params).json()
        seen += [d["id"] for d in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [d["id"] for d in everything[1:]]
    assert second["id"] != first["id"]


def test_bad_filters_are_400_problems(hooks_tenant: TenantClient, receiver: Receiver) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    path = f"/v1/webhooks/{hook['id']}/deliveries"
    for params, named in [
        ({"status": "lost"}, "status"),
        ({"occurred_after": "yesterday"}, "occurred_after"),
        ({"event_type": "x" * 65}, "event_type"),
        (
            {"occurred_after": "2026-12-06T10:00:00Z", "occurred_before": "2026-12-06T09:00:00Z"},
            "occurred_before",
        ),
    ]:
        problem = assert_problem(hooks_tenant.get(path, params=params), 400)
        assert named in problem["detail"] or named in str(problem.get("errors")), problem
    assert_problem(hooks_tenant.post(f"{path}/not-a-uuid/retry"), 404)
    # A time without an offset is UTC: compared with one that has an offset, not a 500.
    naive = {"occurred_after": "2026-12-06T10:00:00", "occurred_before": "2026-12-06T10:30:00Z"}
    assert hooks_tenant.get(path, params=naive).status_code == 200
    backwards = {**naive, "occurred_before": "2026-12-06T09:30:00Z"}
    assert_problem(hooks_tenant.get(path, params=backwards), 400, "occurred_before")


def test_stats_are_the_last_24_hours_of_attempts(
    hooks_tenant: TenantClient,
    receiver: Receiver,
    runtime: Runtime,
    caught_up: Callable[[], None],
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    other = subscribe(hooks_tenant, receiver.url + "/other", ["contact.created"])
    caught_up()  # the delivery subscriber has the webhooks
    now = datetime.now(UTC)
    # Ten attempts in the window, 7 delivered, latencies 10…100 ms; one a day old and one
    # of another webhook, which do not count.
    attempts = [
        (
            hook["id"],
            now - timedelta(minutes=5 + i),
            "delivered" if i < 7 else "http_error",
            10.0 * (i + 1),
        )
        for i in range(10)
    ]
    attempts += [
        (hook["id"], now - timedelta(hours=25), "http_error", 5000.0),
        (other["id"], now - timedelta(minutes=1), "http_error", 9000.0),
    ]
    with runtime.pool.connection() as conn:
        conn.cursor().executemany(
            "INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,"
            " latency_ms) VALUES (%s, %s, %s, %s, %s)",
            [(-(i + 1), *a) for i, a in enumerate(attempts)],
        )
    response = hooks_tenant.get(f"/v1/webhooks/{hook['id']}/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["attempts"], stats["delivered"], stats["success_rate"]) == (10, 7, 0.7)
    # Nearest rank: p50 is the 5th of 10 latencies, p99 the 10th.
    assert (stats["latency_p50_ms"], stats["latency_p99_ms"]) == (50.0, 100.0)
    assert sum(hour["attempts"] for hour in stats["hourly"]) == 10
    assert sum(hour["delivered"] for hour in stats["hourly"]) == 7
    hours = [datetime.fromisoformat(hour["hour"]) for hour in stats["hourly"]]
    assert hours == sorted(hours)
    assert all(h.minute == 0 for h in hours)
    window = datetime.fromisoformat(stats["window_end"]) - datetime.fromisoformat(
        stats["window_start"]
    )
    assert window == timedelta(hours=24)

    quiet = subscribe(hooks_tenant, receiver.url + "/quiet", ["contact.created"])
    empty = hooks_tenant.get(f"/v1/webhooks/{quiet['id']}/stats").json()
    assert (empty["attempts"], empty["success_rate"], empty["latency_p99_ms"]) == (0, None, None)
    assert empty["hourly"] == []


def test_replay_since_a_time_resends_what_occurred_from_then(
    hooks_tenant: TenantClient, receiver: Receiver, workers: Workers
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    workers.start()
    ids = [contact(hooks_tenant, f"since{i}@example.com")["id"] for i in range(3)]
    assert receiver.wait_count(3)
    by_record = {e["entity"]["id"]: e for e in receiver.events()}
    second = by_record[ids[1]]

    response = hooks_tenant.post(
        f"/v1/webhooks/{hook['id']}/replay", json={"since": second["occurred_at"]}
    )
    assert response.status_code == 202, response.text
    assert response.json()["enqueued"] == 2
    assert receiver.wait_count(5)
    replayed = {e["entity"]["id"] for e in receiver.events()[3:]}
    assert replayed == set(ids[1:])

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/replay", json={"since": later})
    assert (response.status_code, response.json()["enqueued"]) == (202, 0)


def test_replay_needs_exactly_one_of_after_and_since(
    hooks_tenant: TenantClient, receiver: Receiver
) -> None:
    hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
    path = f"/v1/webhooks/{hook['id']}/replay"
    for body in (
        {},
        {"after": "x", "since": "2026-12-06T00:00:00Z"},
        {"since": "yesterday"},
        {"since": "2026-12-06T00:00:00"},  # no offset: ambiguous
        {"since": None},
    ):
        assert_problem(hooks_tenant.post(path, json=body), 422)
    assert deliveries(hooks_tenant, hook["id"]) == []


def test_the_admin_list_searches_tenants_by_name_or_id_prefix(
    admin: httpx.Client, caught_up: Callable[[], None]
) -> None:
    word = f"Zq{uuid4().hex[:8]}"
    made = [provision(admin, f"{word} {suffix}") for suffix in ("Alpha", "Beta", "Gamma")]
    provision(admin, f"x{word}")  # contains the word, does not start with it
    provision(admin, "100%_real")
    caught_up()  # the tenants' read model has them

    def names(**params: Any) -> list[str]:
        response = admin.get("/admin/tenants", params=params)
        assert response.status_code == 200, response.text
        return [t["name"] for t in response.json()["data"]]

    assert names(q=word.upper()) == [f"{word} Alpha", f"{word} Beta", f"{word} Gamma"]
    assert names(q=f"{word.lower()} b") == [f"{word} Beta"]
    gamma = made[2].id
    # Ids are UUIDv7: tenants made in one millisecond share their first 12 hex digits, so
    # a prefix that tells them apart reaches into the random part.
    assert names(q=gamma[:-4]) == [f"{word} Gamma"]
    assert names(q=gamma.upper()) == [f"{word} Gamma"]
    assert names(q=gamma.replace("-", "")[:-3]) == [f"{word} Gamma"]
    # LIKE's wildcards are plain characters.
    assert names(q="100%_") == ["100%_real"]
    assert all(name.startswith("%") for name in names(q="%"))
    # Keyset pages of a search.
    first = admin.get("/admin/tenants", params={"q": word, "limit": 2}).json()
    assert first["has_more"]
    rest = admin.get(
        "/admin/tenants", params={"q": word, "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [t["name"] for t in first["data"] + rest["data"]] == names(q=word)
    assert rest["has_more"] is False
    for bad in ("", "   ", "a\x00b", "x" * 201):
        assert_problem(admin.get("/admin/tenants", params={"q": bad}), 400)


def test_an_attempt_never_sent_keeps_no_request_headers(
    hooks_tenant: TenantClient, workers: Workers
) -> None:
    hook = subscribe(hooks_tenant, "http://127.0.0.1:9/private", ["contact.created"])
    workers.start(schedule=ONE_TRY, allow_private=False)  # the SSRF guard refuses it
    contact(hooks_tenant, "never-sent@example.com")
    eventually(settled_as(hooks_tenant, hook, "failed", 1), "the address was refused")
    [attempt] = detail(hooks_tenant, hook, only_delivery(hooks_tenant, hook)["id"])["attempts"]
    assert attempt["outcome"] == "refused"
    assert attempt["request_headers"] is None
    assert attempt["response_headers"] is None
