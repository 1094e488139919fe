"""The OpenAPI document integration builders read: 3.1, described, secured, with problems."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from domain.events import EVENT_TYPES
from tests.conftest import TenantClient
from tests.support.credentials import bearer, issue_api_key

METHODS = {"get", "post", "patch", "delete", "put"}
# What Litestar writes when a handler says nothing: the status's own description, or these.
FRAMEWORK_DESCRIPTIONS = {status.description for status in HTTPStatus} | {
    "Stream Response",
    "Redirect Response",
    "File Download",
    "Additional response",
}


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def bodies(operation: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, media type, media type object) of the request body and every response."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        yield "request", media_type, media
    for status, response in operation["responses"].items():
        for media_type, media in response.get("content", {}).items():
            yield status, media_type, media


def examples_of(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values()]


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


def test_every_operation_has_a_readable_summary_and_says_what_it_returns(
    http: httpx.Client,
) -> None:
    doc = http.get("/schema/openapi.json").json()
    for path, method, operation in operations(doc):
        where = (method, path)
        summary = operation.get("summary", "")
        assert summary != operation["operationId"], where
        assert " " in summary, (where, summary)  # a phrase ("List contacts"), not "List"
        successes = [r for status, r in operation["responses"].items() if status[0] == "2"]
        assert successes, where
        for response in successes:
            assert response["description"] not in FRAMEWORK_DESCRIPTIONS, where
    create = doc["paths"]["/v1/contacts"]["post"]
    assert create["summary"] == "Create a contact"
    assert doc["paths"]["/v1/orders/{order_id}/place"]["post"]["summary"] == "Place an order"


def test_every_body_has_an_example_valid_against_its_schema(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    checked = 0
    for path, method, operation in operations(doc):
        for status, media_type, media in bodies(operation):
            where = (method, path, status, media_type)
            found = examples_of(media)
            assert found, where
            if "json" not in media_type:
                continue
            # The example is checked against the media type's schema, its `$ref`s resolved
            # within the document's components (OpenAPI 3.1 schemas are JSON Schema 2020-12).
            validator = Draft202012Validator({**media["schema"], "components": doc["components"]})
            for example in found:
                errors = [e.message for e in validator.iter_errors(example)]
                assert not errors, (where, errors)
                checked += 1
    assert checked > 100
    contact = doc["paths"]["/v1/contacts/{contact_id}"]["get"]["responses"]["200"]
    assert contact["content"]["application/json"]["example"]["name"] == "Ada Lovelace"
    order = doc["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert order["example"]["currency"] == "EUR"
    assert order["example"]["line_items"]


def test_oauth_error_examples_are_real_errors_not_filler(http: httpx.Client) -> None:
    token = http.get("/schema/openapi.json").json()["paths"]["/oauth/token"]["post"]
    for status in ("400", "401", "429"):
        for example in examples_of(token["responses"][status]["content"]["application/json"]):
            assert example["error"] in {
                "invalid_request",
                "invalid_client",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
                "slow_down",
            }, example
            assert " " in example["error_description"], example  # a sentence, not random text


def test_response_headers_are_declared_where_they_occur(http: httpx.Client) -> None:
    doc = http.get("/schema/openapi.json").json()
    rate_limit = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, (method, path, status)
            if path.startswith("/v1/") and status != "401":
                assert rate_limit <= set(headers), (method, path, status)
            if status in {"429", "503"}:
                assert "Retry-After" in headers, (method, path, status)
            for name, header in headers.items():
                assert header.get("schema"), (path, status, name)
                assert header.get("description"), (path, status, name)

    def declared(path: str, method: str, status: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"][status].get("headers", {}))

    created = declared("/v1/contacts", "post", "201")
    assert {"Location", "ETag", "Idempotent-Replayed", "X-Request-ID"} | rate_limit <= created
    assert {"Location", "ETag", "Idempotent-Replayed"} <= declared("/v1/orders", "post", "201")
    assert "Location" in declared("/v1/webhooks", "post", "201")
    assert "ETag" in declared("/v1/contacts/{contact_id}", "get", "200")
    assert "ETag" in declared("/v1/orders/{order_id}", "patch", "200")
    assert "ETag" in declared("/v1/orders/{order_id}/pay", "post", "200")
    assert "ETag" not in declared("/v1/webhooks/{webhook_id}", "get", "200")
    assert "Retry-After" in declared("/v1/webhooks/{webhook_id}/replay", "post", "503")
    assert "WWW-Authenticate" in declared("/v1/contacts", "get", "401")


def test_problem_schema_declares_every_member_the_api_sends(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    problem = http.get("/schema/openapi.json").json()["components"]["schemas"]["Problem"]
    members = problem["properties"]
    assert {"parameter", "required_scope", "errors"} <= set(members)
    assert all(member.get("description") for member in members.values())
    reader_key = issue_api_key(admin, tenant.id, ["records:read"])
    with bearer(str(tenant.client.base_url), reader_key) as reader:
        answers = [
            reader.post("/v1/contacts", json={"email": "ada@example.com"}),  # 403
            tenant.get("/v1/contacts", params={"cursor": "not-a-cursor"}),  # 400
            tenant.post("/v1/contacts", json={"email": "x"}),  # 422
            tenant.post("/v1/contacts", json={"email": "ada@example.com", "nickname": "A"}),
        ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [403, 400, 422, 422]
    sent = [answer.json() for answer in answers]
    assert sent[0]["required_scope"] == "records:write"
    assert sent[1]["parameter"] == "cursor"
    assert sent[2]["errors"]
    for body in sent:
        assert set(body) <= set(members), body
