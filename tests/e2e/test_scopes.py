"""Scopes on every `/v1` operation, read from the app's own route table, so operations added
later are covered without editing this file; and their declaration in the OpenAPI schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest

from api.app import create_app
from domain.credential import SCOPES
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.credentials import bearer, create_oauth_client, fetch_token, issue_api_key

PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
SAMPLE = {"uuid": lambda: str(uuid4()), "str": lambda: "x", "int": lambda: "1"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Litestar's template, e.g. /v1/contacts/{contact_id:uuid}
    scope: str

    @property
    def group(self) -> str:
        return self.path.split("/")[2]

    def url(self) -> str:
        return PARAMETER.sub(lambda m: SAMPLE[m.group(2)](), self.path)


def v1_operations(runtime: Runtime) -> list[Operation]:
    """Every `/v1` operation and the scope its OpenAPI security names."""
    app = create_app(runtime.api_services())
    operations = []
    for route in app.routes:
        if not route.path.startswith("/v1"):
            continue
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                security = handler.resolve_security()
                oauth = [s["OAuth2"] for s in security if "OAuth2" in s]
                assert security[:1] == [{"ApiKey": []}], (method, route.path)
                assert len(oauth) == 1, f"{method} {route.path} declares no scope (use scoped())"
                assert len(oauth[0]) == 1
                operations.append(Operation(method, route.path, oauth[0][0]))
    return operations


@pytest.fixture(scope="module")
def operations(runtime: Runtime) -> list[Operation]:
    found = v1_operations(runtime)
    assert {"contacts", "orders"} <= {op.group for op in found}
    return found


def test_every_v1_operation_enforces_the_scope_it_documents(runtime: Runtime) -> None:
    app = create_app(runtime.api_services())
    documented = {(op.method, op.path): op.scope for op in v1_operations(runtime)}
    for route in app.routes:
        if not route.path.startswith("/v1"):
            continue
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            enforced = handler.opt.get("required_scope")
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                assert enforced == documented[(method, route.path)], (method, route.path)
    assert set(documented.values()) <= set(SCOPES)


def test_each_operation_refuses_a_credential_without_its_scope(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient, operations: list[Operation]
) -> None:
    base = str(http.base_url)
    lacking = {
        scope: bearer(base, issue_api_key(admin, tenant.id, [s for s in SCOPES if s != scope]))
        for scope in SCOPES
    }
    for op in operations:
        response = lacking[op.scope].request(op.method, op.url(), json={})
        assert response.status_code == 403, (op, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["required_scope"] == op.scope
        assert op.scope in problem["detail"]
        assert f'scope="{op.scope}"' in response.headers["www-authenticate"]
    for client in lacking.values():
        client.close()


def test_each_operation_admits_a_credential_with_only_its_scope(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient, operations: list[Operation]
) -> None:
    """Only-that-scope credentials pass the guard (they may still get 404 or 422: the ids and
    bodies here are placeholders). OAuth tokens narrowed by `scope` are used for half."""
    base = str(http.base_url)
    client_id, secret = create_oauth_client(admin, tenant.id, list(SCOPES))
    only = {}
    for i, scope in enumerate(SCOPES):
        credential = (
            issue_api_key(admin, tenant.id, [scope])
            if i % 2
            else fetch_token(http, client_id, secret, scope=scope)
        )
        only[scope] = bearer(base, credential)
    for op in operations:
        response = only[op.scope].request(op.method, op.url(), json={})
        assert response.status_code not in (401, 403), (op, response.text)
    for client in only.values():
        client.close()


def test_openapi_declares_both_schemes_on_every_v1_operation(
    http: httpx.Client, operations: list[Operation]
) -> None:
    schema = http.get("/schema/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiKey"]["description"],
    }
    flow = schemes["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == set(SCOPES)
    assert schemes["OAuthClientBasic"]["scheme"] == "basic"

    declared = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1") and method != "options":
                declared[(method.upper(), path)] = operation["security"]
    expected = {
        (op.method, PARAMETER.sub(r"{\1}", op.path)): [
            {"ApiKey": []},
            {"OAuth2": [op.scope]},
        ]
        for op in operations
    }
    assert declared == expected

    token = schema["paths"]["/oauth/token"]["post"]
    assert token["security"] == [{"OAuthClientBasic": []}, {}]  # or form fields
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["grant_type"]
    assert {"400", "401", "429"} <= set(token["responses"])
    for path, item in schema["paths"].items():
        if path.startswith("/admin"):
            for operation in item.values():
                assert operation["security"] == [{"AdminToken": []}], path
