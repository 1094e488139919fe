"""Refusals (401 from authentication, 403 for a missing scope) are answered like any other
answer: they echo the request id, carry the rate-limit headers once a credential is known,
and reach /metrics under their own status, not as server errors; so does a client that
leaves before its request body has arrived (499)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TenantClient
from tests.support.credentials import bearer, issue_api_key
from tests.support.poll import wait_until


def samples(http: httpx.Client, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample named `name` on /metrics, as (labels, value)."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for sample in family.samples
        if sample.name == name
    ]


def request_count(http: httpx.Client, method: str, path: str, status: int) -> float:
    wanted = {"method": method, "path": path, "status_code": str(status)}
    return sum(
        value
        for labels, value in samples(http, "syncline_requests_total")
        if wanted.items() <= labels.items()
    )


def server_errors(http: httpx.Client) -> float:
    return sum(value for _, value in samples(http, "syncline_requests_error_total"))


def test_a_401_is_answered_and_counted_as_a_401(http: httpx.Client) -> None:
    errors = server_errors(http)
    before = request_count(http, "GET", "/v1/contacts", 401)
    response = http.get(
        "/v1/contacts", headers={"Authorization": "Bearer nope", "X-Request-ID": "req-401"}
    )
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "req-401"
    assert response.json()["correlation_id"] == "req-401"
    assert request_count(http, "GET", "/v1/contacts", 401) == before + 1
    assert server_errors(http) == errors


def test_a_403_is_answered_rate_limited_and_counted_as_a_403(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    reader = bearer(str(http.base_url), issue_api_key(admin, tenant.id, ["records:read"]))
    errors = server_errors(http)
    before = request_count(http, "POST", "/v1/contacts", 403)
    response = reader.post(
        "/v1/contacts", json={"email": "x@example.com"}, headers={"X-Request-ID": "req-403"}
    )
    reader.close()
    assert response.status_code == 403
    assert response.json()["required_scope"] == "records:write"
    assert response.headers["x-request-id"] == "req-403"
    assert "ratelimit-remaining" in response.headers  # charged like any answer
    assert request_count(http, "POST", "/v1/contacts", 403) == before + 1
    assert server_errors(http) == errors


def test_an_empty_request_id_defers_to_the_correlation_id(tenant: TenantClient) -> None:
    response = tenant.get(
        "/v1/contacts", headers={"X-Request-ID": "", "X-Correlation-ID": "corr-7"}
    )
    assert response.headers["x-request-id"] == "corr-7"


def test_a_client_that_leaves_mid_body_is_counted_as_499_not_as_a_server_error(
    http: httpx.Client, tenant: TenantClient
) -> None:
    errors = server_errors(http)
    before = request_count(http, "POST", "/v1/contacts", 499)
    server_failures = request_count(http, "POST", "/v1/contacts", 500)
    address = urlsplit(str(http.base_url))
    head = (
        "POST /v1/contacts HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: Bearer {tenant.api_key}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(head.encode() + b'{"email":')  # 9 of the 100 bytes, then gone
    assert wait_until(lambda: request_count(http, "POST", "/v1/contacts", 499) == before + 1)
    assert server_errors(http) == errors
    assert request_count(http, "POST", "/v1/contacts", 500) == server_failures
