"""The changes feed over HTTP: initial sync, deltas, tombstones, filters, long-poll, bad input."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

import httpx
import pytest

from projections.changes.cursor import encode_change_cursor
from syncline.runtime import Runtime
from tests.conftest import TenantClient, provision


def follow(client: httpx.Client, cursor: str | None = None, **params: Any) -> tuple[list, str]:
    """Every change after `cursor`, paging until has_more is false; and the last cursor."""
    seen: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/changes", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["data"]
        assert page["next_cursor"], "next_cursor must always be usable"
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen, cursor


def test_initial_sync_then_deltas_with_compaction_and_tombstones(
    tenant: TenantClient, caught_up
) -> None:
    ada = tenant.post("/v1/contacts", json={"email": "ada@example.com"}).json()
    bob = tenant.post("/v1/contacts", json={"email": "bob@example.com"}).json()
    tenant.patch(f"/v1/contacts/{ada['id']}", json={"name": "Ada"})
    caught_up()

    initial, cursor = follow(tenant.client, limit=1)
    assert [c["id"] for c in initial] == [bob["id"], ada["id"]]  # ada moved past bob
    latest_ada = initial[1]
    assert latest_ada["version"] == 2
    assert latest_ada["event_type"] == "contact.updated"
    assert latest_ada["resource_type"] == "contact"
    assert latest_ada["deleted"] is False
    assert latest_ada["data"] == tenant.get(f"/v1/contacts/{ada['id']}").json()
    assert latest_ada["changed_at"] == latest_ada["data"]["updated_at"]
    assert latest_ada["changed_at"].endswith("Z")

    assert tenant.delete(f"/v1/contacts/{bob['id']}").status_code == 204
    caught_up()
    delta, cursor = follow(tenant.client, cursor)
    assert delta == [
        {
            "cursor": delta[0]["cursor"],
            "resource_type": "contact",
            "id": bob["id"],
            "version": 2,
            "deleted": True,
            "changed_at": delta[0]["changed_at"],
            "event_type": "contact.deleted",
            "data": None,
        }
    ]
    # Nothing new: an empty page whose cursor is the one sent, ready for the next poll.
    again = tenant.get("/v1/changes", params={"cursor": cursor}).json()
    assert again == {"data": [], "next_cursor": cursor, "has_more": False}


def test_each_items_cursor_resumes_right_after_it(tenant: TenantClient, caught_up) -> None:
    ids = [
        tenant.post("/v1/contacts", json={"email": f"r{i}@example.com"}).json()["id"]
        for i in range(4)
    ]
    caught_up()
    everything, _ = follow(tenant.client)
    after_second = tenant.get("/v1/changes", params={"cursor": everything[1]["cursor"]}).json()
    assert [c["id"] for c in after_second["data"]] == ids[2:]


def test_resource_types_filter(tenant: TenantClient, caught_up) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "buyer@example.com"}).json()
    order = tenant.post("/v1/orders", json={"contact_id": contact["id"], "currency": "EUR"}).json()
    caught_up()
    orders, _ = follow(tenant.client, resource_types="order")
    assert [c["id"] for c in orders] == [order["id"]]
    both, _ = follow(tenant.client, resource_types="contact, order")
    assert {c["id"] for c in both} == {contact["id"], order["id"]}


def test_head_and_cursor_now_start_from_the_present(tenant: TenantClient, caught_up) -> None:
    tenant.post("/v1/contacts", json={"email": "before@example.com"})
    caught_up()
    head = tenant.get("/v1/changes/head")
    assert head.status_code == 200
    now_page = tenant.get("/v1/changes", params={"cursor": "now"}).json()
    assert now_page["data"] == []
    after = tenant.post("/v1/contacts", json={"email": "after@example.com"}).json()
    caught_up()
    for cursor in (head.json()["cursor"], now_page["next_cursor"]):
        changes, _ = follow(tenant.client, cursor)
        assert [c["id"] for c in changes] == [after["id"]]


def test_tenants_never_see_each_others_changes(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    mine = tenant.post("/v1/contacts", json={"email": "mine@example.com"}).json()
    other_tenant.post("/v1/contacts", json={"email": "theirs@example.com"})
    caught_up()
    changes, cursor = follow(tenant.client)
    assert [c["id"] for c in changes] == [mine["id"]]
    foreign = other_tenant.get("/v1/changes", params={"cursor": cursor})
    assert foreign.status_code == 400
    assert foreign.json()["parameter"] == "cursor"
    assert "another tenant" in foreign.json()["detail"]


def long_poll_across_a_create(tenant: TenantClient, email: str) -> tuple[list[str], float, str]:
    """Long-poll from the head while a contact is created: answers the ids the poll got,
    how long it waited, and the created contact's id."""
    cursor = tenant.get("/v1/changes/head").json()["cursor"]
    result: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        result["page"] = tenant.get("/v1/changes", params={"cursor": cursor, "wait": 20}).json()
        result["seconds"] = time.monotonic() - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)  # let the poll reach its wait; a write before it is found by its read
    created = tenant.post("/v1/contacts", json={"email": email}).json()
    poller.join(timeout=25)
    return [c["id"] for c in result["page"]["data"]], result["seconds"], created["id"]


def test_long_poll_is_woken_by_a_commit(tenant: TenantClient, caught_up) -> None:
    caught_up()
    seen, seconds, created = long_poll_across_a_create(tenant, "wake@example.com")
    assert seen == [created]
    # The fallback re-read comes 5 s after the first: well under that, the NOTIFY woke it.
    assert seconds < 3, "the long-poll was not woken by the commit"


def test_long_poll_gives_up_after_wait_with_the_same_cursor(
    tenant: TenantClient, caught_up
) -> None:
    caught_up()
    cursor = tenant.get("/v1/changes/head").json()["cursor"]
    started = time.monotonic()
    page = tenant.get("/v1/changes", params={"cursor": cursor, "wait": 0.5}).json()
    assert 0.5 <= time.monotonic() - started < 3
    assert page == {"data": [], "next_cursor": cursor, "has_more": False}


def test_another_tenants_commit_does_not_end_a_long_poll(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    caught_up()
    cursor = tenant.get("/v1/changes/head").json()["cursor"]
    result: dict[str, Any] = {}
    poller = threading.Thread(
        target=lambda: result.update(
            page=tenant.get("/v1/changes", params={"cursor": cursor, "wait": 1.5}).json()
        )
    )
    poller.start()
    time.sleep(0.2)
    other_tenant.post("/v1/contacts", json={"email": "elsewhere@example.com"})
    poller.join(timeout=10)
    assert result["page"]["data"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"wait": -1}, "wait"),
        ({"wait": 3600}, "wait"),
        ({"wait": "soon"}, "wait"),
        ({"resource_types": "invoice"}, "resource_types"),
        ({"resource_types": "contact,,order"}, "resource_types"),
        ({"resource_types": ""}, "resource_types"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    tenant: TenantClient, params: dict[str, Any], parameter: str
) -> None:
    response = tenant.get("/v1/changes", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert parameter in response.json()["detail"]


def test_truncated_tampered_and_future_cursors_are_refused(
    tenant: TenantClient, runtime: Runtime, caught_up
) -> None:
    tenant.post("/v1/contacts", json={"email": "c@example.com"})
    caught_up()
    _, cursor = follow(tenant.client)
    codec = runtime.api_services().cursors
    future = encode_change_cursor(codec, UUID(tenant.id), 10**15)
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for bad in (cursor[:-3], cursor[:5], tampered, future, "now" + cursor):
        response = tenant.get("/v1/changes", params={"cursor": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["parameter"] == "cursor"
    assert (
        "ahead of the event log"
        in tenant.get("/v1/changes", params={"cursor": future}).json()["detail"]
    )


def test_a_list_cursor_is_not_a_change_cursor(tenant: TenantClient, caught_up) -> None:
    for i in range(2):
        tenant.post("/v1/contacts", json={"email": f"l{i}@example.com"})
    caught_up()
    list_cursor = tenant.get("/v1/contacts", params={"limit": 1}).json()["next_cursor"]
    response = tenant.get("/v1/changes", params={"cursor": list_cursor})
    assert response.status_code == 400
    assert "another listing" in response.json()["detail"]


def test_the_feed_needs_records_read(admin: httpx.Client) -> None:
    writer = provision(admin, "Writer only", scopes=["records:write"])
    try:
        for path in ("/v1/changes", "/v1/changes/head"):
            response = writer.get(path)
            assert response.status_code == 403
            assert response.json()["required_scope"] == "records:read"
    finally:
        writer.client.close()


def test_long_polls_survive_the_listener_losing_its_session(
    tenant: TenantClient, runtime: Runtime, caught_up
) -> None:
    with runtime.pool.connection() as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name LIKE 'syncline change listener%%'"
            " AND datname = current_database()"
        ).fetchone()
    assert ended is not None
    assert ended[0] >= 1
    caught_up()
    seen, seconds, created = long_poll_across_a_create(tenant, "again@example.com")
    assert seen == [created]
    assert seconds < 6  # reconnected (1 s), or at worst the 5 s fallback read


def test_the_feed_is_described_in_openapi(http: httpx.Client) -> None:
    spec = http.get("/schema/openapi.json").json()
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    for operation in ("ListChanges", "GetChangesHead", "ListEvents", "GetEvent"):
        assert operations[operation]["description"]
    for operation in ("GetContactHistory", "GetOrderHistory"):
        assert operation in operations
    parameters = {p["name"] for p in operations["ListChanges"]["parameters"]}
    assert {"cursor", "limit", "resource_types", "wait"} <= parameters
    assert {"version", "as_of"} <= {p["name"] for p in operations["GetContact"]["parameters"]}
