"""The OpenAPI document integration builders read: 3.1, described, secured, with problems."""

from __future__ import annotations

import httpx

from domain.events import EVENT_TYPES


def test_openapi_document_describes_every_operation(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert {"ApiKey", "OAuth2", "AdminToken"} <= set(doc["components"]["securitySchemes"])
    flows = doc["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    operation_ids = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "patch", "delete", "put"}:
                continue
            operation_ids.add(operation["operationId"])
            assert operation.get("summary") or operation.get("description"), (method, path)
            if path.startswith("/v1/"):
                assert {"ApiKey": []} in operation["security"], (method, path)
                assert "401" in operation["responses"], (method, path)
                problem = operation["responses"]["401"]["content"]
                assert "application/problem+json" in problem, (method, path)
    assert {"CreateContact", "ListOrders", "PlaceOrder", "CreateTenant"} <= operation_ids


def test_scoped_operations_name_their_scope(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    create = doc["paths"]["/v1/contacts"]["post"]
    assert {"OAuth2": ["records:write"]} in create["security"]
    listing = doc["paths"]["/v1/contacts"]["get"]
    assert {"OAuth2": ["records:read"]} in listing["security"]


def test_the_document_is_valid_openapi_3_1(http: httpx.Client) -> None:
    from openapi_spec_validator import validate

    validate(http.get("/schema/openapi.json").json())  # raises, naming the first error


def test_webhooks_section_documents_each_delivery_and_its_headers(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    webhooks = doc["webhooks"]
    assert set(webhooks) == set(EVENT_TYPES)  # one per event type a webhook can ask for
    paid = webhooks["order.paid"]["post"]
    headers = {p["name"] for p in paid["parameters"] if p["in"] == "header"}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "X-Signature-256"} <= headers
    body = paid["requestBody"]["content"]["application/json"]["schema"]["allOf"]
    refs = [part.get("$ref") for part in body] + [
        part.get("properties", {}).get("data", {}).get("$ref") for part in body
    ]
    assert "#/components/schemas/EventEnvelope" in refs
    assert "#/components/schemas/Order" in refs
    for ref in refs:
        if ref:
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_every_tag_is_described(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    described = {tag["name"] for tag in doc["tags"] if tag.get("description")}
    used = {
        tag
        for item in doc["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for tag in operation.get("tags", [])
    }
    assert used <= described
