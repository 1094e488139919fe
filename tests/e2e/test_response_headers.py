"""Headers every answer carries, and those of answers that carry a secret or a token."""

from __future__ import annotations

import httpx

from api.request_guard import NO_STORE_OPERATIONS
from tests.conftest import TenantClient


def assert_no_store(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_answer_carrying_a_secret_or_token_is_no_store(
    admin: httpx.Client, http: httpx.Client, tenant: TenantClient
) -> None:
    assert_no_store(admin.post("/admin/tenants", json={"name": "Initech"}), 201)
    key = admin.post(f"/admin/tenants/{tenant.id}/api-keys", json={"scopes": ["records:read"]})
    assert_no_store(key, 201)
    client = admin.post(
        f"/admin/tenants/{tenant.id}/oauth-clients", json={"scopes": ["records:read"]}
    )
    assert_no_store(client, 201)
    assert_no_store(admin.post(f"/admin/oauth-clients/{client.json()['client_id']}/rotate"), 200)
    webhook = tenant.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["contact.*"]}
    )
    assert_no_store(webhook, 201)
    assert_no_store(tenant.post(f"/v1/webhooks/{webhook.json()['id']}/rotate-secret"), 200)
    token = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
        },
    )
    assert_no_store(token, 200)
    # Errors of those routes carry no secret, and are no-store all the same (harmless).
    assert_no_store(admin.post("/admin/tenants", json={}), 422)


def test_answers_without_secrets_may_be_stored(tenant: TenantClient) -> None:
    listed = tenant.get("/v1/webhooks")
    assert listed.status_code == 200
    assert "no-store" not in listed.headers.get("cache-control", "")


def test_every_answer_is_nosniff(http: httpx.Client, tenant: TenantClient) -> None:
    answers = [
        http.get("/healthz"),
        http.get("/v1/contacts"),  # 401 from the authentication middleware
        http.get("/no-such-route"),  # 404 before any route
        http.delete("/healthz"),  # 405
        http.options("/v1/contacts"),
        tenant.post("/v1/contacts", json={}),  # 422
        tenant.get("/v1/contacts"),
        http.get("/schema/openapi.json"),
        http.get("/metrics"),
    ]
    for response in answers:
        assert response.status_code < 500, response.text
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


def test_every_no_store_operation_exists(http: httpx.Client) -> None:
    # A renamed operation would silently lose its no-store.
    schema = http.get("/schema/openapi.json").json()
    operations = {op["operationId"] for item in schema["paths"].values() for op in item.values()}
    assert operations >= NO_STORE_OPERATIONS
