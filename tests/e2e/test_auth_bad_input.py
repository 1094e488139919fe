"""Bad authentication input over HTTP: malformed headers, credentials of the wrong kind —
each a clear 4xx — and no log line carrying a secret."""

from __future__ import annotations

import logging

import httpx
import pytest

from syncline.logs import JsonFormatter
from tests.conftest import ADMIN_TOKEN, TenantClient
from tests.support.credentials import FORM, bearer, fetch_token, key_prefix, secret_part
from tests.support.poll import eventually


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Token sk_abc",
        "Bearersk_abc",
        "Bearer a b c",
        "Bearer " + "x" * 8000,
        "Bearer sk_" + "0" * 32 + "_" + "y" * 43,
        "Bearer at_" + "z" * 43,
        "Bearer cs_" + "z" * 43,
        "Bearer \u00e9\u00e8",
    ],
)
def test_a_malformed_or_unknown_bearer_is_401(http: httpx.Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header.encode("latin-1")}
    response = http.get("/v1/contacts", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith('Bearer realm="syncline"')
    assert response.json()["status"] == 401


def test_a_tampered_key_is_refused(http: httpx.Client, tenant: TenantClient) -> None:
    prefix, secret = key_prefix(tenant.api_key), secret_part(tenant.api_key)
    other_id = "sk_" + "f" * 32
    for forged in (f"{prefix}_{secret[:-1]}", f"{prefix}_{secret}x", f"{other_id}_{secret}"):
        with bearer(str(http.base_url), forged) as client:
            assert client.get("/v1/contacts").status_code == 401


def test_the_admin_token_is_not_a_tenant_credential(http: httpx.Client) -> None:
    with bearer(str(http.base_url), ADMIN_TOKEN) as client:
        response = client.get("/v1/contacts")
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-token")


def test_no_log_line_carries_a_secret(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = fetch_token(http, tenant.client_id, tenant.client_secret)
    secrets = [tenant.api_key, tenant.client_secret, token, ADMIN_TOKEN]
    base = str(http.base_url)
    requests: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/v1/contacts", {"headers": {"Authorization": f"Bearer {tenant.api_key}"}}),
        ("GET", "/v1/contacts", {"headers": {"Authorization": f"Bearer {token}"}}),
        ("GET", "/v1/contacts", {"headers": {"Authorization": f"Bearer {token}x"}}),
        ("GET", f"/v1/contacts?api_key={tenant.api_key}", {}),
        ("GET", f"/v1/contacts/{tenant.api_key}", {}),
        (
            "GET",
            f"/admin/credentials/{tenant.api_key}",
            {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}},
        ),
        (
            "DELETE",
            f"/admin/api-keys/{tenant.api_key}",
            {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}},
        ),
        (
            "GET",
            f"/admin/tenants/{tenant.client_secret}",
            {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}},
        ),
        (
            "POST",
            f"/oauth/token?client_secret={tenant.client_secret}",
            {"content": "grant_type=client_credentials", "headers": FORM},
        ),
        (
            "POST",
            "/oauth/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": tenant.client_id,
                    "client_secret": tenant.client_secret + "x",
                }
            },
        ),
        (
            "POST",
            "/oauth/token",
            {"data": {"grant_type": "password", "client_secret": tenant.client_secret}},
        ),
        ("POST", "/oauth/token", {"content": tenant.client_secret, "headers": FORM}),
        ("POST", "/oauth/token", {"json": {"client_secret": tenant.client_secret}}),
        (
            "POST",
            "/v1/contacts",
            {
                "json": {"email": tenant.api_key},
                "headers": {"Authorization": f"Bearer {tenant.api_key}"},
            },
        ),
        ("POST", f"/v1/{token}", {"headers": {"Authorization": f"Bearer {token}"}}),
    ]
    with httpx.Client(base_url=base, timeout=30) as client:
        for method, url, options in requests:
            response = client.request(method, url, **options)  # type: ignore[arg-type]
            assert response.status_code < 500, (url, response.text)

    # The access line is written after the answer is sent: wait for the lines to land.
    # (Paths that match no route — two above — never reach the access-log middleware.)
    eventually(
        lambda: sum(r.name == "syncline.access" for r in caplog.records) >= len(requests) - 2,
        "the access log lines arrived",
        5,
        interval=0.01,
    )

    formatter = JsonFormatter()
    # httpx/httpcore are this test's own client. uvicorn's access log is off in `syncline
    # serve` (it would print query strings); it only shows up here because caplog attaches
    # to non-propagating loggers, which makes uvicorn believe it has a handler.
    lines = [
        formatter.format(r)
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore")) and r.name != "uvicorn.access"
    ]
    for line in lines:
        for secret in secrets:
            assert secret not in line
        for credential in (tenant.api_key, tenant.client_secret, token):
            assert secret_part(credential) not in line
    assert any(f"{key_prefix(tenant.api_key)}_[redacted]" in line for line in lines)
