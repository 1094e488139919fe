"""What the OpenAPI document says an operation takes and answers, checked against what it
does: `If-Match` wherever it is honoured, 415 on every JSON body, 503 wherever the database
is read, optional bodies, and both ways a client authenticates at the token endpoint."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import TenantClient
from tests.e2e.test_oauth_token import basic
from tests.e2e.test_openapi import operations
from tests.e2e.test_orders import make_order
from tests.support.credentials import FORM
from tests.support.problems import assert_problem

TRANSITIONS = ("place", "pay", "fulfill", "cancel")
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def doc(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def header_parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


def takes_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def test_order_transitions_declare_the_if_match_they_honour(
    doc: dict[str, Any], tenant: TenantClient
) -> None:
    declared = header_parameters(doc["paths"]["/v1/orders/{order_id}"]["patch"])["If-Match"]
    for verb in TRANSITIONS:
        operation = doc["paths"][f"/v1/orders/{{order_id}}/{verb}"]["post"]
        assert header_parameters(operation).get("If-Match") == declared, verb
        assert "412" in operation["responses"], verb

    order = make_order(tenant)
    cancelled = make_order(tenant)
    for path, verb, version in [
        (order, "place", 1),
        (order, "pay", 2),
        (order, "fulfill", 3),
        (cancelled, "cancel", 1),
    ]:
        url = f"/v1/orders/{path['id']}/{verb}"
        stale = tenant.post(url, headers={"If-Match": f'"{version + 1}"'})
        assert_problem(stale, 412)
        current = tenant.post(url, headers={"If-Match": f'"{version}"'})
        assert current.status_code == 200, current.text
        assert current.headers["etag"] == f'"{version + 1}"'


def test_every_operation_with_a_json_body_declares_its_415(doc: dict[str, Any]) -> None:
    with_body = 0
    for path, method, operation in operations(doc):
        where = (method, path)
        if not takes_json(operation):
            assert "415" not in operation["responses"], where
            continue
        with_body += 1
        declared = operation["responses"].get("415")
        assert declared, where
        assert declared["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
        assert declared["headers"]["Accept"]["example"] == "application/json", where
        assert "X-Request-ID" in declared["headers"], where
    assert with_body >= 13


def test_every_operation_with_a_json_body_answers_415_to_another_media_type(
    doc: dict[str, Any], admin: httpx.Client, tenant: TenantClient
) -> None:
    """The declaration is true: each of them refuses a body sent as text/plain with the
    problem declared (before looking at the path's ids, which name nothing here)."""
    checked = 0
    for path, method, operation in operations(doc):
        if not takes_json(operation):
            continue
        client = admin if path.startswith("/admin/") else tenant.client
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid4()), path)
        response = client.request(
            method.upper(), url, content=b"{}", headers={"Content-Type": "text/plain"}
        )
        problem = assert_problem(response, 415, "application/json")
        assert response.headers["accept"] == "application/json", (method, path)
        assert problem["correlation_id"] == response.headers["x-request-id"], (method, path)
        checked += 1
    assert checked >= 13


def test_every_operation_reading_the_database_declares_503_with_retry_after(
    doc: dict[str, Any],
) -> None:
    checked = 0
    for path, method, operation in operations(doc):
        if not path.startswith(("/v1/", "/admin/", "/oauth/")):
            continue
        where = (method, path)
        declared = operation["responses"].get("503")
        assert declared, where
        assert declared["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
        retry_after = declared["headers"]["Retry-After"]
        assert retry_after["required"] is True, where
        assert retry_after["schema"] == {"type": "integer"}, where
        checked += 1
    assert checked >= 50


def test_only_a_body_the_operation_can_go_without_is_optional(
    doc: dict[str, Any], hooks_tenant: TenantClient
) -> None:
    rotate = "/v1/webhooks/{webhook_id}/rotate-secret"
    for path, method, operation in operations(doc):
        if "requestBody" in operation:
            assert operation["requestBody"]["required"] is (path != rotate), (method, path)

    hook = hooks_tenant.post(
        "/v1/webhooks", json={"url": "https://hooks.example/in", "event_types": ["order.*"]}
    ).json()
    rotated = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/rotate-secret")  # no body at all
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != hook["secret"]


def test_token_endpoint_declares_basic_and_form_field_client_authentication(
    doc: dict[str, Any], http: httpx.Client, tenant: TenantClient
) -> None:
    token = doc["paths"]["/oauth/token"]["post"]
    # HTTP Basic, or no HTTP authentication at all: the credentials are then form fields.
    assert token["security"] == [{"OAuthClientBasic": []}, {}]
    scheme = doc["components"]["securitySchemes"]["OAuthClientBasic"]
    assert "`client_id` and `client_secret` form fields" in scheme["description"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"client_id", "client_secret"} <= set(form["properties"])

    form_fields = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
        },
    )
    assert form_fields.status_code == 200, form_fields.text
    http_basic = http.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={**FORM, **basic(tenant.client_id, tenant.client_secret)},
    )
    assert http_basic.status_code == 200, http_basic.text
