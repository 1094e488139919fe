"""A hostile but legitimate client's input, over HTTP: a 4xx problem or a success, never a
5xx, with the exact status and headers each case calls for."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.request_guard import MAX_JSON_DEPTH
from syncline.runtime import Runtime
from tests.conftest import ServerThread, TenantClient
from tests.support.credentials import secret_part
from tests.support.problems import assert_problem, log_head

ALLOWED_ORIGIN = "https://app.example.com"
JSON = {"Content-Type": "application/json"}


def nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@dataclass
class Resources:
    tenant: TenantClient
    contact_id: str
    order_id: str
    webhook_id: str
    api_key_id: str
    oauth_client_id: str


@pytest.fixture
def resources(tenant: TenantClient, admin: httpx.Client) -> Resources:
    contact = tenant.post("/v1/contacts", json={"email": "hostile@example.com"})
    assert contact.status_code == 201, contact.text
    order = tenant.post(
        "/v1/orders",
        json={
            "contact_id": contact.json()["id"],
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 1, "unit_price": 100}],
        },
    )
    assert order.status_code == 201, order.text
    webhook = tenant.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["contact.*"]}
    )
    assert webhook.status_code == 201, webhook.text
    key = admin.post(f"/admin/tenants/{tenant.id}/api-keys", json={"scopes": ["records:read"]})
    assert key.status_code == 201, key.text
    client = admin.post(
        f"/admin/tenants/{tenant.id}/oauth-clients", json={"scopes": ["records:read"]}
    )
    assert client.status_code == 201, client.text
    return Resources(
        tenant,
        contact.json()["id"],
        order.json()["id"],
        webhook.json()["id"],
        key.json()["id"],
        client.json()["client_id"],
    )


def json_write_endpoints(r: Resources) -> list[tuple[str, str, bool]]:
    """(method, path, as admin) of every endpoint that decodes a JSON body."""
    return [
        ("POST", "/v1/contacts", False),
        ("PATCH", f"/v1/contacts/{r.contact_id}", False),
        ("POST", "/v1/orders", False),
        ("PATCH", f"/v1/orders/{r.order_id}", False),
        ("POST", "/v1/webhooks", False),
        ("PATCH", f"/v1/webhooks/{r.webhook_id}", False),
        ("POST", f"/v1/webhooks/{r.webhook_id}/rotate-secret", False),
        ("POST", f"/v1/webhooks/{r.webhook_id}/replay", False),
        ("POST", "/admin/tenants", True),
        ("POST", f"/admin/tenants/{r.tenant.id}/api-keys", True),
        ("PATCH", f"/admin/api-keys/{r.api_key_id}", True),
        ("POST", f"/admin/tenants/{r.tenant.id}/oauth-clients", True),
        ("PATCH", f"/admin/oauth-clients/{r.oauth_client_id}", True),
    ]


@pytest.mark.parametrize(
    "body",
    [nested_array(1_000), nested_object(1_000), nested_array(MAX_JSON_DEPTH + 1)],
    ids=["array-1000", "object-1000", "array-limit+1"],
)
def test_deep_nesting_is_400_on_every_json_write_endpoint(
    resources: Resources, admin: httpx.Client, runtime: Runtime, body: bytes
) -> None:
    head = log_head(runtime)
    for method, path, as_admin in json_write_endpoints(resources):
        client = admin if as_admin else resources.tenant.client
        response = client.request(method, path, content=body, headers=JSON)
        problem = assert_problem(response, 400, str(MAX_JSON_DEPTH))
        assert problem["type"].endswith("/nesting-too-deep"), (method, path)
    assert log_head(runtime) == head


def test_nesting_up_to_the_limit_is_decoded(tenant: TenantClient) -> None:
    # custom_fields at depth 2 of the body; the domain's own limit (32) refuses it with 422.
    deep = (
        b'{"email": "deep@example.com", "custom_fields": '
        + nested_object(MAX_JSON_DEPTH - 2)[:-1]
        + b"}}"
    )
    assert_problem(tenant.post("/v1/contacts", content=deep, headers=JSON), 422, "custom_fields")
    # Brackets inside strings are text, not nesting.
    brackets = '{"email": "brackets@example.com", "custom_fields": {"note": "' + "[{" * 500 + '"}}'
    response = tenant.post("/v1/contacts", content=brackets.encode(), headers=JSON)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "custom_fields",
    [
        {"big": 2**53},
        {"big": -(2**53)},
        {"big": 12345678901234567890},
        {"deep": {"list": [1, 2, 9007199254740993]}},
    ],
)
def test_integers_beyond_2_53_are_refused_and_change_nothing(
    tenant: TenantClient, runtime: Runtime, custom_fields: dict[str, Any]
) -> None:
    # Inexact in JavaScript, and beyond what RFC 8785 serialises: the audit chain could
    # not hash the event, and its projection would stop for every tenant.
    existing = tenant.post("/v1/contacts", json={"email": "exact@example.com"}).json()
    head = log_head(runtime)
    created = tenant.post(
        "/v1/contacts", json={"email": "big@example.com", "custom_fields": custom_fields}
    )
    assert_problem(created, 422, "custom_fields")
    updated = tenant.patch(f"/v1/contacts/{existing['id']}", json={"custom_fields": custom_fields})
    assert_problem(updated, 422, "custom_fields")
    assert log_head(runtime) == head


def test_the_largest_exact_integer_is_accepted_and_chained(
    tenant: TenantClient, runtime: Runtime
) -> None:
    limit = 2**53 - 1
    fields = {"max": limit, "min": -limit}
    created = tenant.post(
        "/v1/contacts", json={"email": "max@example.com", "custom_fields": fields}
    )
    assert created.status_code == 201, created.text
    assert runtime.wait_for_projections()  # the audit chain included: it hashed the event
    assert tenant.get(f"/v1/contacts/{created.json()['id']}").json()["custom_fields"] == fields


@pytest.mark.parametrize(
    "path",
    [
        "/v1/events/%00",
        "/v1/events/a%01b",
        "/v1/events/%FF%FE",
        "/v1/events?types=%00",
        "/v1/events?since=2026%0A",
        "/v1/contacts?cursor=%00",
        "/v1/contacts?cursor=ab%7F",
        "/v1/changes?resource_types=%00",
        "/v1/changes?cursor=%C3%28",
        "/v1/orders?status=x%00y",
    ],
)
def test_control_characters_and_bad_utf8_in_path_and_query_are_400(
    tenant: TenantClient, path: str
) -> None:
    problem = assert_problem(tenant.get(path), 400)
    assert "control character or invalid UTF-8" in problem["detail"]


def test_control_characters_in_admin_paths_are_400(admin: httpx.Client) -> None:
    assert_problem(admin.get("/admin/credentials/%00"), 400)
    assert_problem(admin.get("/admin/tenants?cursor=%00"), 400)


def test_plain_unicode_in_a_path_is_no_error(tenant: TenantClient) -> None:
    assert_problem(tenant.get("/v1/events/%C3%A9t%C3%A9"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contacts",
        "/v1/contacts/00000000-0000-0000-0000-000000000000",
        "/v1/events/x",
        "/v1/webhooks",
        "/admin/tenants",
        "/oauth/token",
        "/healthz",
    ],
)
def test_options_is_204_without_authentication_or_cors(http: httpx.Client, path: str) -> None:
    for headers in [{}, {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}]:
        response = http.options(path, headers=headers)
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def cors_server(runtime: Runtime) -> Iterator[ServerThread]:
    app = create_app(runtime.api_services(cors_origins=(ALLOWED_ORIGIN,)))
    with ServerThread(app) as server:
        yield server


def test_cors_preflight_from_an_allowed_origin(cors_server: ServerThread) -> None:
    response = httpx.options(
        cors_server.url + "/v1/contacts",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["vary"] == "Origin"
    allowed = response.headers["access-control-allow-headers"].split(", ")
    assert allowed == [
        "Authorization",
        "Content-Type",
        "Idempotency-Key",
        "If-Match",
        "X-Request-ID",
    ]
    assert "PATCH" in response.headers["access-control-allow-methods"]


def test_cors_preflight_from_another_origin_has_no_cors_headers(cors_server: ServerThread) -> None:
    response = httpx.options(
        cors_server.url + "/v1/contacts",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert not [name for name in response.headers if name.startswith("access-control-")]


def test_cors_answers_expose_headers_to_an_allowed_origin(
    cors_server: ServerThread, tenant: TenantClient
) -> None:
    headers = {"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {tenant.api_key}"}
    created = httpx.post(
        cors_server.url + "/v1/contacts", json={"email": "cors@example.com"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert created.headers["access-control-expose-headers"] == (
        "ETag, Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After,"
        " X-Request-ID"
    )
    # An error answer too, so a browser can read it.
    unauthenticated = httpx.get(
        cors_server.url + "/v1/contacts", headers={"Origin": ALLOWED_ORIGIN}
    )
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = httpx.get(cors_server.url + "/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        (None, 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        ("application/jsonx", 415),
        ("application/json; charset=utf-8", 201),
        ("Application/JSON", 201),
    ],
)
def test_a_json_body_must_say_it_is_json(
    tenant: TenantClient, runtime: Runtime, content_type: str | None, status: int
) -> None:
    head = log_head(runtime)
    headers = {"Content-Type": content_type} if content_type else {}
    response = tenant.post(
        "/v1/contacts", content=b'{"email": "typed@example.com"}', headers=headers
    )
    if status == 415:
        problem = assert_problem(response, 415, "application/json")
        assert problem["type"].endswith("/unsupported-media-type")
        assert log_head(runtime) == head
    else:
        assert response.status_code == status, response.text


def test_wrong_content_type_is_415_on_every_json_write_endpoint(
    resources: Resources, admin: httpx.Client
) -> None:
    for method, path, as_admin in json_write_endpoints(resources):
        client = admin if as_admin else resources.tenant.client
        response = client.request(
            method, path, content=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert_problem(response, 415)


def test_an_empty_body_where_one_is_required_says_so(
    resources: Resources, admin: httpx.Client, runtime: Runtime
) -> None:
    required = []
    for method, path, as_admin in json_write_endpoints(resources):
        client = admin if as_admin else resources.tenant.client
        head = log_head(runtime)
        response = client.request(method, path, content=b"")
        if response.status_code == 422:
            problem = assert_problem(response, 422, "a request body is required")
            assert problem["errors"] == [{"field": "body", "source": "body", "message": "required"}]
            assert log_head(runtime) == head
            required.append(path)
        else:  # a body that may be left out (rotating a secret takes its defaults)
            assert response.status_code in (200, 201), (path, response.text)
    assert "/v1/contacts" in required
    assert f"/admin/tenants/{resources.tenant.id}/api-keys" in required


def test_bodyless_posts_and_form_posts_need_no_json(
    resources: Resources, http: httpx.Client
) -> None:
    tenant = resources.tenant
    rotated = tenant.post(f"/v1/webhooks/{resources.webhook_id}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    token = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
        },
    )
    assert token.status_code == 200, token.text


HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Request-ID", "sk_0123456789abcdef0123456789abcdef_secretsecret"),
        ("X-Request-ID", "cs_abcdefghijklmnopqrstuvwx"),
        ("X-Request-ID", "AT_abcdefghijklmnopqrstuvwx"),
        ("X-Correlation-ID", "whsec_abcdefghijklmnopqrstuvwx"),
        ("X-Correlation-ID", "adm_abcdefghijklmnopqrstuvwx"),
    ],
)
def test_a_credential_shaped_request_id_is_replaced(
    tenant: TenantClient, header: str, value: str
) -> None:
    response = tenant.post(
        "/v1/contacts", json={"email": "rid@example.com"}, headers={header: value}
    )
    assert response.status_code == 201, response.text
    assert HEX_ID.match(response.headers["x-request-id"])
    assert value not in response.text


def test_a_request_id_of_ordinary_shape_is_kept(tenant: TenantClient) -> None:
    response = tenant.get("/v1/contacts", headers={"X-Request-ID": "skater_42.a-b"})
    assert response.headers["x-request-id"] == "skater_42.a-b"


def test_the_api_key_of_the_caller_as_a_request_id_is_neither_echoed_nor_stored(
    tenant: TenantClient, caught_up: Any
) -> None:
    created = tenant.post(
        "/v1/contacts", json={"email": "leak@example.com"}, headers={"X-Request-ID": tenant.api_key}
    )
    assert created.status_code == 201
    correlation_id = created.headers["x-request-id"]
    assert correlation_id != tenant.api_key
    caught_up()
    events = tenant.get("/v1/events", params={"entity_id": created.json()["id"]})
    assert events.status_code == 200, events.text
    assert tenant.api_key not in events.text
    assert [e["correlation_id"] for e in events.json()["data"]] == [correlation_id]


def test_no_error_detail_echoes_a_credential(tenant: TenantClient) -> None:
    secret = secret_part(tenant.api_key)  # the secret may itself hold "_"
    for path in [f"/v1/events/{tenant.api_key}", f"/v1/contacts?cursor={tenant.api_key}"]:
        response = tenant.get(path)
        assert 400 <= response.status_code < 500, response.text
        assert secret not in response.text
    unknown = tenant.post("/v1/contacts", json={"email": "x@example.com", tenant.client_secret: 1})
    assert_problem(unknown, 422)
    assert tenant.client_secret not in unknown.text
