"""Bad input of every kind: a 4xx problem that says what is wrong, and nothing written."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.problems import assert_problem, log_head

CONTACT_CASES = [
    ("malformed JSON", b'{"email": ', 400, "JSON"),
    ("not an object", b"[1, 2]", 422, "object"),
    ("missing email", b'{"name": "x"}', 422, "email"),
    ("wrong type", b'{"email": 42}', 422, "str"),
    ("unknown field", b'{"email": "a@b.co", "admin": true}', 422, "admin"),
    ("bad email", b'{"email": "not-an-email"}', 422, "email"),
    (
        "too many tags",
        b'{"email": "a@b.co", "tags": [' + b",".join([b'"t"'] * 51) + b"]}",
        422,
        "tags",
    ),
    ("empty tag", b'{"email": "a@b.co", "tags": [""]}', 422, "tags"),
    (
        "custom_fields not object",
        b'{"email": "a@b.co", "custom_fields": [1]}',
        422,
        "custom_fields",
    ),
    ("invalid utf-8", b'{"email": "\xff\xfe"}', 400, ""),
]


@pytest.mark.parametrize(("case", "body", "status", "mentions"), CONTACT_CASES)
def test_bad_contact_bodies(
    tenant: TenantClient, runtime: Runtime, case: str, body: bytes, status: int, mentions: str
) -> None:
    head = log_head(runtime)
    response = tenant.post(
        "/v1/contacts", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, status, mentions)
    assert log_head(runtime) == head, f"{case} wrote an event"


def order_body(contact_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "currency": "EUR",
        "line_items": [{"sku": "A", "quantity": 1, "unit_price": 100}],
        **overrides,
    }


ORDER_CASES = [
    ("unknown currency", {"currency": "ABC"}, "currency"),
    ("lower-case currency", {"currency": "eur"}, "currency"),
    (
        "negative quantity",
        {"line_items": [{"sku": "A", "quantity": -1, "unit_price": 1}]},
        "quantity",
    ),
    ("zero quantity", {"line_items": [{"sku": "A", "quantity": 0, "unit_price": 1}]}, "quantity"),
    (
        "negative price",
        {"line_items": [{"sku": "A", "quantity": 1, "unit_price": -1}]},
        "unit_price",
    ),
    (
        "fractional price",
        {"line_items": [{"sku": "A", "quantity": 1, "unit_price": 1.5}]},
        "unit_price",
    ),
    ("missing sku", {"line_items": [{"quantity": 1, "unit_price": 1}]}, "sku"),
    ("contact not a uuid", {"contact_id": "nope"}, "contact_id"),
    ("unknown contact", {"contact_id": str(uuid4())}, "contact_id"),
    ("total given", {"total": 5}, "total"),
]


@pytest.mark.parametrize(("case", "overrides", "mentions"), ORDER_CASES)
def test_bad_order_bodies(
    tenant: TenantClient, runtime: Runtime, case: str, overrides: dict[str, Any], mentions: str
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "o@example.com"}).json()
    head = log_head(runtime)
    response = tenant.post("/v1/orders", json=order_body(contact["id"], overrides))
    assert_problem(response, 422, mentions)
    assert log_head(runtime) == head, f"{case} wrote an event"


def test_five_megabyte_body_is_413(tenant: TenantClient, runtime: Runtime) -> None:
    head = log_head(runtime)
    big = b'{"email": "a@b.co", "name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = tenant.post(
        "/v1/contacts", content=big, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)
    assert log_head(runtime) == head


def test_bad_patch_changes_nothing(tenant: TenantClient, runtime: Runtime) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "p@example.com"}).json()
    head = log_head(runtime)
    assert_problem(tenant.patch(f"/v1/contacts/{contact['id']}", json={"email": None}), 422)
    assert_problem(tenant.patch(f"/v1/contacts/{contact['id']}", json={"email": "bad"}), 422)
    assert_problem(
        tenant.patch(
            f"/v1/contacts/{contact['id']}", json={"name": "x"}, headers={"If-Match": "banana"}
        ),
        400,
        "If-Match",
    )
    assert log_head(runtime) == head
    assert tenant.get(f"/v1/contacts/{contact['id']}").json() == contact


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/contacts/{id}"),
        ("PATCH", "/v1/contacts/{id}"),
        ("DELETE", "/v1/contacts/{id}"),
        ("GET", "/v1/orders/{id}"),
        ("POST", "/v1/orders/{id}/place"),
        ("DELETE", "/v1/orders/{id}"),
    ],
)
def test_unknown_ids_are_404(tenant: TenantClient, method: str, path: str) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
    response = tenant.request(method, path.format(id=uuid4()), **kwargs)
    assert_problem(response, 404)


def test_malformed_ids_are_4xx(tenant: TenantClient) -> None:
    response = tenant.get("/v1/contacts/not-a-uuid")
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=100000", "limit=abc", "cursor=garbage", "updated_since=yesterday"],
)
def test_bad_list_parameters_are_400(tenant: TenantClient, query: str) -> None:
    problem = assert_problem(tenant.get(f"/v1/contacts?{query}"), 400)
    assert query.split("=")[0] in str(problem)


def test_foreign_list_cursor_is_400(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    for i in range(3):
        other_tenant.post("/v1/contacts", json={"email": f"f{i}@globex.com"})
    caught_up()
    cursor = other_tenant.get("/v1/contacts", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    problem = assert_problem(tenant.get("/v1/contacts", params={"cursor": cursor}), 400)
    assert "another tenant" in problem["detail"]


def test_wrong_content_type_is_4xx(tenant: TenantClient, runtime: Runtime) -> None:
    head = log_head(runtime)
    response = tenant.post(
        "/v1/contacts", content=b"email=a@b.co", headers={"Content-Type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    assert log_head(runtime) == head


def test_idempotency_key_too_long_is_400(tenant: TenantClient) -> None:
    response = tenant.post(
        "/v1/contacts", json={"email": "a@b.co"}, headers={"Idempotency-Key": "k" * 300}
    )
    assert_problem(response, 400, "Idempotency-Key")


def test_custom_fields_nested_past_their_limit_are_422(
    tenant: TenantClient, runtime: Runtime
) -> None:
    # Deeper than custom_fields may nest, not than a body may (see test_hostile_input.py).
    head = log_head(runtime)
    nested: dict = {}
    for _ in range(40):
        nested = {"a": nested}
    response = tenant.post(
        "/v1/contacts", json={"email": "deep@example.com", "custom_fields": nested}
    )
    assert_problem(response, 422, "custom_fields")
    assert log_head(runtime) == head


def test_control_characters_in_a_tenant_name_are_422(admin, runtime: Runtime) -> None:
    head = log_head(runtime)
    response = admin.post("/admin/tenants", json={"name": "Ac\u0000me"})
    assert_problem(response, 422, "name")
    assert log_head(runtime) == head


def test_idempotent_order_retry_answers_the_first_response_after_contact_deleted(
    tenant: TenantClient,
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "gone-later@example.com"}).json()
    body = {"contact_id": contact["id"], "currency": "EUR"}
    headers = {"Idempotency-Key": "order-before-contact-deleted"}
    first = tenant.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == 201
    assert tenant.delete(f"/v1/contacts/{contact['id']}").status_code == 204
    retry = tenant.post("/v1/orders", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
