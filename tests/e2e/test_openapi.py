"""The OpenAPI document integration builders read: 3.1, described, secured, with problems."""

from __future__ import annotations

import httpx


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
