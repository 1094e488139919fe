"""What the OpenAPI document says an operation takes and answers, checked against what it
does: `If-Match` wherever it is honoured, 415 on every JSON body, 503 wherever the database
is read, optional bodies, and both ways a client authenticates at the token endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantClient
from tests.e2e.test_orders import make_order
from tests.support.problems import assert_problem

TRANSITIONS = ("place", "pay", "fulfill", "cancel")


@pytest.fixture
def doc(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def header_parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


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
