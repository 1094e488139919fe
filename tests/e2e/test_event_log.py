"""The audit log over HTTP: /v1/events, one event, record histories, states then."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import TenantClient, provision


def events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every event the filters select, following next_cursor."""
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        response = client.get(
            "/v1/events", params={**params, **({"after": after} if after else {})}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["data"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return seen


def an_order_story(tenant: TenantClient) -> dict[str, Any]:
    contact = tenant.post(
        "/v1/contacts", json={"email": "story@example.com"}, headers={"X-Request-ID": "req-1"}
    ).json()
    order = tenant.post(
        "/v1/orders",
        json={
            "contact_id": contact["id"],
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 2, "unit_price": 150}],
        },
    ).json()
    tenant.post(f"/v1/orders/{order['id']}/place", headers={"X-Correlation-ID": "checkout-9"})
    paid = tenant.post(f"/v1/orders/{order['id']}/pay").json()
    tenant.patch(f"/v1/contacts/{contact['id']}", json={"name": "Story", "phone": "1"})
    return {"contact": contact, "order": order, "paid": paid}


def test_the_log_holds_every_event_as_its_envelope_in_commit_order(
    tenant: TenantClient, caught_up
) -> None:
    story = an_order_story(tenant)
    caught_up()
    log = events(tenant.client, limit=2)
    assert [e["type"] for e in log] == [
        "contact.created",
        "order.created",
        "order.placed",
        "order.paid",
        "contact.updated",
    ]
    assert len({e["id"] for e in log}) == 5
    assert all(e["id"].startswith("evt_") for e in log)
    assert {e["tenant_id"] for e in log} == {tenant.id}
    created, _, placed, paid, updated = log
    assert created["correlation_id"] == "req-1"
    assert placed["correlation_id"] == "checkout-9"
    assert created["actor"]["type"] == "api_key"
    assert paid["entity"] == {"type": "order", "id": story["order"]["id"], "version": 3}
    assert paid["data"] == story["paid"]
    assert paid["changed_fields"] == ["status"]
    assert paid["previous"] == {"status": "placed"}
    assert updated["changed_fields"] == ["name", "phone"]
    assert updated["previous"] == {"name": None, "phone": None}
    assert created["changed_fields"] == []
    assert created["previous"] == {}
    assert created["occurred_at"].endswith("Z")

    # Each event's cursor resumes the log right after it, and works on /v1/changes too.
    after_placed = tenant.get("/v1/events", params={"after": placed["cursor"]}).json()
    assert [e["type"] for e in after_placed["data"]] == ["order.paid", "contact.updated"]
    assert tenant.get("/v1/changes", params={"cursor": placed["cursor"]}).status_code == 200

    one = tenant.get(f"/v1/events/{paid['id']}")
    assert one.status_code == 200
    assert one.json() == paid


def test_filters_by_type_wildcard_entity_and_time(tenant: TenantClient, caught_up) -> None:
    story = an_order_story(tenant)
    caught_up()
    order_id = story["order"]["id"]
    assert [e["type"] for e in events(tenant.client, types="order.*")] == [
        "order.created",
        "order.placed",
        "order.paid",
    ]
    assert [e["type"] for e in events(tenant.client, types="order.paid,contact.*")] == [
        "contact.created",
        "order.paid",
        "contact.updated",
    ]
    assert {e["entity"]["id"] for e in events(tenant.client, entity_id=order_id)} == {order_id}
    everything = events(tenant.client)
    middle = everything[2]["occurred_at"]
    later = [e["type"] for e in events(tenant.client, since=middle)]
    earlier = [e["type"] for e in events(tenant.client, until=middle)]
    assert later == ["order.placed", "order.paid", "contact.updated"]
    assert earlier == ["contact.created", "order.created"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert events(tenant.client, since=future) == []


def test_tenants_see_only_their_own_events(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    mine = tenant.post("/v1/contacts", json={"email": "me@example.com"}).json()
    other_tenant.post("/v1/contacts", json={"email": "them@example.com"})
    caught_up()
    log = events(tenant.client)
    assert [e["entity"]["id"] for e in log] == [mine["id"]]
    assert other_tenant.get(f"/v1/events/{log[0]['id']}").status_code == 404
    foreign = other_tenant.get("/v1/events", params={"after": log[0]["cursor"]})
    assert foreign.status_code == 400
    assert foreign.json()["parameter"] == "after"


def test_history_lists_every_event_of_a_record_even_once_deleted(
    tenant: TenantClient, caught_up
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "h@example.com"}).json()
    tenant.patch(f"/v1/contacts/{contact['id']}", json={"name": "H"})
    tenant.delete(f"/v1/contacts/{contact['id']}")
    other = tenant.post("/v1/contacts", json={"email": "other@example.com"}).json()
    caught_up()
    history = tenant.get(f"/v1/contacts/{contact['id']}/history").json()
    assert [e["type"] for e in history["data"]] == [
        "contact.created",
        "contact.updated",
        "contact.deleted",
    ]
    assert [e["entity"]["version"] for e in history["data"]] == [1, 2, 3]
    assert history["has_more"] is False
    assert history["next_cursor"] is None

    first = tenant.get(f"/v1/contacts/{contact['id']}/history", params={"limit": 2}).json()
    assert first["has_more"] is True
    rest = tenant.get(
        f"/v1/contacts/{contact['id']}/history", params={"cursor": first["next_cursor"]}
    ).json()
    assert [e["type"] for e in first["data"] + rest["data"]] == [e["type"] for e in history["data"]]
    assert other["id"] not in {e["entity"]["id"] for e in history["data"]}


def test_history_reads_the_records_stream_at_once_and_matches_the_event_log(
    tenant: TenantClient, caught_up
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "now@example.com"}).json()
    path = f"/v1/contacts/{contact['id']}"
    for i in range(2, 12):  # each change is in the history the moment it returned
        assert tenant.patch(path, json={"name": f"N{i}"}).status_code == 200
        versions = [e["entity"]["version"] for e in tenant.get(f"{path}/history").json()["data"]]
        assert versions == list(range(1, i + 1))
    caught_up()
    history = tenant.get(f"{path}/history").json()["data"]
    logged = events(tenant.client, entity_id=contact["id"])
    assert history == logged  # the same envelopes, cursors included


def test_history_is_404_for_unknown_foreign_or_other_kind_records(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    theirs = other_tenant.post("/v1/contacts", json={"email": "x@example.com"}).json()
    contact = tenant.post("/v1/contacts", json={"email": "y@example.com"}).json()
    caught_up()
    assert tenant.get(f"/v1/contacts/{theirs['id']}/history").status_code == 404
    assert tenant.get(f"/v1/contacts/{uuid4()}/history").status_code == 404
    assert tenant.get(f"/v1/orders/{contact['id']}/history").status_code == 404


def test_order_history(tenant: TenantClient, caught_up) -> None:
    story = an_order_story(tenant)
    caught_up()
    history = tenant.get(f"/v1/orders/{story['order']['id']}/history").json()
    assert [e["type"] for e in history["data"]] == ["order.created", "order.placed", "order.paid"]


def test_a_record_as_it_was_at_a_version_or_a_moment(tenant: TenantClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    v1 = tenant.post("/v1/contacts", json={"email": "v@example.com"}).json()
    time.sleep(0.01)  # distinct timestamps to ask "as of" between
    v2 = tenant.patch(f"/v1/contacts/{v1['id']}", json={"name": "Vee"}).json()
    path = f"/v1/contacts/{v1['id']}"

    at_v1 = tenant.get(path, params={"version": 1})
    assert at_v1.status_code == 200
    assert at_v1.json() == v1
    assert at_v1.headers["etag"] == '"1"'
    assert tenant.get(path, params={"version": 2}).json() == v2
    assert tenant.get(path, params={"as_of": v1["updated_at"]}).json() == v1
    assert tenant.get(path, params={"as_of": v2["updated_at"]}).json() == v2
    assert tenant.get(path, params={"as_of": before.isoformat()}).status_code == 404
    assert tenant.get(path, params={"version": 3}).status_code == 404

    tenant.delete(path)
    assert tenant.get(path).status_code == 404
    assert tenant.get(path, params={"version": 2}).json() == v2  # history outlives deletion
    gone = tenant.get(path, params={"version": 3})
    assert gone.status_code == 404
    assert "deleted" in gone.json()["detail"]
    now = datetime.now(UTC).isoformat()
    assert tenant.get(path, params={"as_of": now}).status_code == 404


def test_an_order_as_of_a_version(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "o@example.com"}).json()
    order = tenant.post(
        "/v1/orders",
        json={
            "contact_id": contact["id"],
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 1, "unit_price": 1}],
        },
    ).json()
    tenant.post(f"/v1/orders/{order['id']}/place")
    assert tenant.get(f"/v1/orders/{order['id']}", params={"version": 1}).json() == order
    assert tenant.get(f"/v1/orders/{contact['id']}", params={"version": 1}).status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/v1/events", {"after": "nope"}, "after"),
        ("/v1/events", {"types": "order.shipped"}, "types"),
        ("/v1/events", {"types": "invoice.*"}, "types"),
        ("/v1/events", {"entity_id": "not-a-uuid"}, "entity_id"),
        ("/v1/events", {"since": "last tuesday"}, "since"),
        ("/v1/events", {"until": "2026-02-30T00:00:00Z"}, "until"),
        ("/v1/events", {"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ("/v1/events", {"limit": 0}, "limit"),
        ("/v1/events", {"limit": 100000}, "limit"),
        ("/v1/contacts/{id}", {"version": 0}, "version"),
        ("/v1/contacts/{id}", {"version": "two"}, "version"),
        ("/v1/contacts/{id}", {"as_of": "yesterday"}, "as_of"),
        ("/v1/contacts/{id}", {"as_of": "2026-01-01", "version": 1}, "as_of"),
        ("/v1/contacts/{id}/history", {"cursor": "nope"}, "cursor"),
        ("/v1/contacts/{id}/history", {"limit": 5000}, "limit"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    tenant: TenantClient, path: str, params: dict[str, Any], parameter: str
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "bad@example.com"}).json()
    response = tenant.get(path.format(id=contact["id"]), params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["parameter"] == parameter


def test_unknown_event_id_is_404(tenant: TenantClient) -> None:
    assert tenant.get("/v1/events/evt_0123").status_code == 404
    assert tenant.get(f"/v1/events/evt_{uuid4().hex}").status_code == 404


def test_scopes(admin: httpx.Client, tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "s@example.com"}).json()
    reader = provision(admin, "Reader", scopes=["records:read"])
    auditor = provision(admin, "Auditor", scopes=["events:read"])
    try:
        assert reader.get("/v1/events").status_code == 403
        assert reader.get("/v1/events").json()["required_scope"] == "events:read"
        assert auditor.get("/v1/events").status_code == 200
        assert auditor.get(f"/v1/contacts/{contact['id']}/history").status_code == 403
        assert (
            auditor.get(f"/v1/contacts/{contact['id']}", params={"version": 1}).status_code == 403
        )
    finally:
        reader.client.close()
        auditor.client.close()
