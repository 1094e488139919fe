"""Orders over HTTP: totals, the status machine, edits, deletion, idempotent creation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TenantClient


def make_order(tenant: TenantClient, **overrides: Any) -> dict[str, Any]:
    contact = tenant.post("/v1/contacts", json={"email": "buyer@example.com"}).json()
    body = {
        "contact_id": contact["id"],
        "currency": "EUR",
        "line_items": [
            {"sku": "TEA", "description": "Green tea", "quantity": 3, "unit_price": 450},
            {"sku": "CUP", "quantity": 1, "unit_price": 1200},
        ],
        **overrides,
    }
    response = tenant.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_order_total_and_draft_status(tenant: TenantClient) -> None:
    order = make_order(tenant)
    assert order["total"] == 3 * 450 + 1200
    assert order["status"] == "draft"
    assert order["version"] == 1


def test_happy_path_through_the_status_machine(tenant: TenantClient) -> None:
    order = make_order(tenant)
    for verb, status in [("place", "placed"), ("pay", "paid"), ("fulfill", "fulfilled")]:
        response = tenant.post(f"/v1/orders/{order['id']}/{verb}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    assert tenant.get(f"/v1/orders/{order['id']}").json()["version"] == 4


@pytest.mark.parametrize(
    ("path", "verb"),
    [([], "pay"), ([], "fulfill"), (["place", "pay", "fulfill"], "cancel"), (["cancel"], "place")],
)
def test_illegal_transitions_are_409_and_change_nothing(
    tenant: TenantClient, path: list[str], verb: str
) -> None:
    order = make_order(tenant)
    for step in path:
        assert tenant.post(f"/v1/orders/{order['id']}/{step}").status_code == 200
    before = tenant.get(f"/v1/orders/{order['id']}").json()
    response = tenant.post(f"/v1/orders/{order['id']}/{verb}")
    assert response.status_code == 409
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"cannot {verb}" in problem["detail"]
    assert tenant.get(f"/v1/orders/{order['id']}").json() == before


def test_draft_edit_recomputes_total_but_placed_orders_are_frozen(tenant: TenantClient) -> None:
    order = make_order(tenant)
    edited = tenant.patch(
        f"/v1/orders/{order['id']}",
        json={"line_items": [{"sku": "X", "quantity": 2, "unit_price": 5}]},
    )
    assert edited.status_code == 200
    assert edited.json()["total"] == 10
    tenant.post(f"/v1/orders/{order['id']}/place")
    frozen = tenant.patch(f"/v1/orders/{order['id']}", json={"currency": "USD"})
    assert frozen.status_code == 409


def test_order_for_unknown_or_foreign_contact_is_422(
    tenant: TenantClient, other_tenant: TenantClient
) -> None:
    theirs = other_tenant.post("/v1/contacts", json={"email": "x@globex.com"}).json()
    response = tenant.post("/v1/orders", json={"contact_id": theirs["id"], "currency": "EUR"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contact_id"


def test_delete_draft_order(tenant: TenantClient) -> None:
    order = make_order(tenant)
    assert tenant.delete(f"/v1/orders/{order['id']}").status_code == 204
    assert tenant.get(f"/v1/orders/{order['id']}").status_code == 404


def test_idempotency_key_replays_first_answer(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "i@example.com"}).json()
    body = {"contact_id": contact["id"], "currency": "JPY"}
    headers = {"Idempotency-Key": "order-42"}
    first = tenant.post("/v1/orders", json=body, headers=headers)
    second = tenant.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    different = tenant.post("/v1/orders", json={**body, "currency": "USD"}, headers=headers)
    assert different.status_code == 422
    assert different.json()["type"].endswith("/idempotency-key-reused")


def test_idempotency_key_replays_first_answer_even_after_changes(tenant: TenantClient) -> None:
    headers = {"Idempotency-Key": "contact-7"}
    first = tenant.post("/v1/contacts", json={"email": "k@example.com"}, headers=headers).json()
    tenant.patch(f"/v1/contacts/{first['id']}", json={"name": "changed"})
    again = tenant.post("/v1/contacts", json={"email": "k@example.com"}, headers=headers)
    assert again.json() == first


def test_same_idempotency_key_in_two_tenants_is_independent(
    tenant: TenantClient, other_tenant: TenantClient
) -> None:
    headers = {"Idempotency-Key": "shared"}
    a = tenant.post("/v1/contacts", json={"email": "a@example.com"}, headers=headers)
    b = other_tenant.post("/v1/contacts", json={"email": "b@example.com"}, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_orders_list(tenant: TenantClient, caught_up) -> None:
    order = make_order(tenant)
    caught_up()
    listed = tenant.get("/v1/orders").json()
    assert [o["id"] for o in listed["data"]] == [order["id"]]
    assert listed["data"][0] == order
