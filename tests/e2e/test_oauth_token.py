"""`POST /oauth/token` over HTTP: the client credentials grant and every RFC 6749 §5.2 error.

`invalid_grant` has no occasion here: the client credentials grant carries no grant (code,
refresh token, password) that could be invalid; a bad client is `invalid_client`.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from tests.conftest import TenantClient
from tests.support.credentials import (
    FORM,
    bearer,
    create_oauth_client,
    fetch_token,
    issue_api_key,
    key_prefix,
    request_token,
    secret_part,
)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_oauth_error(response: httpx.Response, error: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    assert set(body) == {"error", "error_description"}
    return dict(body)


def test_basic_authentication_answers_a_bearer_token(
    http: httpx.Client, tenant: TenantClient
) -> None:
    response = http.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={**FORM, **basic(tenant.client_id, tenant.client_secret)},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "records:read records:write webhooks:manage events:read"
    assert body["access_token"].startswith("at_")
    assert len(body["access_token"]) >= len("at_") + 43  # 256 random bits

    with bearer(str(http.base_url), body["access_token"]) as client:
        created = client.post("/v1/contacts", json={"email": "token@example.com"})
        assert created.status_code == 201
        assert client.get(f"/v1/contacts/{created.json()['id']}").status_code == 200


def test_form_authentication_works_and_each_request_gets_a_new_token(
    http: httpx.Client, tenant: TenantClient
) -> None:
    first = fetch_token(http, tenant.client_id, tenant.client_secret)
    second = fetch_token(http, tenant.client_id, tenant.client_secret)
    assert first != second
    with bearer(str(http.base_url), first) as client:
        assert client.get("/v1/contacts").status_code == 200


def test_scope_narrows_the_token(http: httpx.Client, tenant: TenantClient) -> None:
    response = request_token(http, tenant.client_id, tenant.client_secret, scope="records:read")
    assert response.status_code == 200
    assert response.json()["scope"] == "records:read"
    with bearer(str(http.base_url), response.json()["access_token"]) as client:
        assert client.get("/v1/contacts").status_code == 200
        denied = client.post("/v1/contacts", json={"email": "x@example.com"})
        assert denied.status_code == 403
        assert denied.json()["required_scope"] == "records:write"


# -- invalid_request -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"grant_type": "client_credentials"}', "application/json"),
        ("grant_type=client_credentials", "text/plain"),
        ("grant_type=client_credentials", None),
    ],
)
def test_a_body_that_is_not_form_encoded_is_invalid_request(
    http: httpx.Client, tenant: TenantClient, content: str, content_type: str | None
) -> None:
    headers = basic(tenant.client_id, tenant.client_secret)
    if content_type:
        headers["Content-Type"] = content_type
    response = http.post("/oauth/token", content=content, headers=headers)
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret", "scope"])
def test_a_duplicated_parameter_is_invalid_request(
    http: httpx.Client, tenant: TenantClient, name: str
) -> None:
    params = [
        ("grant_type", "client_credentials"),
        ("client_id", tenant.client_id),
        ("client_secret", tenant.client_secret),
        ("scope", "records:read"),
    ]
    params += [(n, v) for n, v in params if n == name]
    body = str(httpx.QueryParams(params))
    response = http.post("/oauth/token", content=body, headers=FORM)
    assert name in assert_oauth_error(response, "invalid_request")["error_description"]


def test_a_missing_grant_type_is_invalid_request(http: httpx.Client, tenant: TenantClient) -> None:
    response = http.post(
        "/oauth/token",
        data={"client_id": tenant.client_id, "client_secret": tenant.client_secret},
    )
    assert_oauth_error(response, "invalid_request")


def test_two_client_authentication_methods_are_invalid_request(
    http: httpx.Client, tenant: TenantClient
) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": tenant.client_secret},
        headers=basic(tenant.client_id, tenant.client_secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_a_duplicated_authorization_header_is_invalid_request(
    http: httpx.Client, tenant: TenantClient
) -> None:
    auth = basic(tenant.client_id, tenant.client_secret)["Authorization"]
    response = http.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=[
            ("Content-Type", FORM["Content-Type"]),
            ("Authorization", auth),
            ("Authorization", auth),
        ],
    )
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize(
    "header", ["Basic", "Basic %%%", "Basic " + base64.b64encode(b"x").decode()]
)
def test_a_malformed_basic_header_is_invalid_request(http: httpx.Client, header: str) -> None:
    response = http.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={**FORM, "Authorization": header},
    )
    assert_oauth_error(response, "invalid_request")


def test_credentials_in_the_url_are_invalid_request(
    http: httpx.Client, tenant: TenantClient
) -> None:
    response = http.post(
        "/oauth/token",
        params={"client_id": tenant.client_id, "client_secret": tenant.client_secret},
        data={"grant_type": "client_credentials"},
    )
    assert_oauth_error(response, "invalid_request")


# -- invalid_client --------------------------------------------------------------------------
def assert_invalid_client(response: httpx.Response) -> None:
    assert_oauth_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith('Basic realm="syncline"')


def test_a_wrong_secret_is_invalid_client_by_basic_and_by_form(
    http: httpx.Client, tenant: TenantClient
) -> None:
    wrong = tenant.client_secret[:-2] + "xx"
    assert_invalid_client(
        http.post(
            "/oauth/token",
            content="grant_type=client_credentials",
            headers={**FORM, **basic(tenant.client_id, wrong)},
        )
    )
    assert_invalid_client(request_token(http, tenant.client_id, wrong))


@pytest.mark.parametrize(
    "client_id", ["cli_" + "0" * 32, "cli_nothex", "someone", "sk_" + "0" * 32]
)
def test_an_unknown_client_is_invalid_client(
    http: httpx.Client, tenant: TenantClient, client_id: str
) -> None:
    assert_invalid_client(request_token(http, client_id, tenant.client_secret))


def test_no_client_authentication_is_invalid_client(http: httpx.Client) -> None:
    assert_invalid_client(http.post("/oauth/token", data={"grant_type": "client_credentials"}))


def test_a_bearer_token_is_not_client_authentication(
    http: httpx.Client, tenant: TenantClient
) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Bearer {tenant.api_key}"},
    )
    assert_invalid_client(response)


def test_credentials_of_the_wrong_kind_are_invalid_client(
    http: httpx.Client, tenant: TenantClient
) -> None:
    token = fetch_token(http, tenant.client_id, tenant.client_secret)
    secret = tenant.client_secret.removeprefix("cs_")
    for client_secret in (tenant.api_key, token, secret, secret_part(tenant.api_key)):
        assert_invalid_client(request_token(http, tenant.client_id, client_secret))
    # An API key's id as client id, with the key as secret.
    key_id = key_prefix(tenant.api_key).removeprefix("sk_")
    assert_invalid_client(request_token(http, f"cli_{key_id}", tenant.api_key))


def test_a_revoked_client_is_invalid_client(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    client_id, secret = create_oauth_client(admin, tenant.id, ["records:read"])
    assert admin.delete(f"/admin/oauth-clients/{client_id}").status_code == 204
    assert_invalid_client(request_token(http, client_id, secret))


def test_a_rotated_secret_is_invalid_client_and_the_new_one_works(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    client_id, old = create_oauth_client(admin, tenant.id, ["records:read"])
    rotated = admin.post(f"/admin/oauth-clients/{client_id}/rotate")
    assert rotated.status_code == 200
    assert_invalid_client(request_token(http, client_id, old))
    assert fetch_token(http, client_id, rotated.json()["client_secret"])


# -- unauthorized_client, unsupported_grant_type, invalid_scope ------------------------------
def test_a_suspended_tenants_client_is_unauthorized_client(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    assert admin.post(f"/admin/tenants/{tenant.id}/suspend").status_code == 200
    response = request_token(http, tenant.client_id, tenant.client_secret)
    assert_oauth_error(response, "unauthorized_client")
    assert admin.post(f"/admin/tenants/{tenant.id}/reactivate").status_code == 200
    assert fetch_token(http, tenant.client_id, tenant.client_secret)


@pytest.mark.parametrize(
    "grant_type", ["password", "authorization_code", "refresh_token", "urn:x", "Client_Credentials"]
)
def test_another_grant_type_is_unsupported_grant_type(
    http: httpx.Client, tenant: TenantClient, grant_type: str
) -> None:
    response = http.post(
        "/oauth/token",
        data={"grant_type": grant_type, "code": "abc", "refresh_token": "def"},
        headers=basic(tenant.client_id, tenant.client_secret),
    )
    assert_oauth_error(response, "unsupported_grant_type")


@pytest.mark.parametrize(
    "scope", ["admin", "records:read  records:write", "records:*", "records:read " * 300, "é"]
)
def test_an_unknown_malformed_or_absurd_scope_is_invalid_scope(
    http: httpx.Client, tenant: TenantClient, scope: str
) -> None:
    response = request_token(http, tenant.client_id, tenant.client_secret, scope=scope)
    assert_oauth_error(response, "invalid_scope")


def test_a_scope_beyond_the_clients_is_invalid_scope(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    client_id, secret = create_oauth_client(admin, tenant.id, ["records:read"])
    response = request_token(http, client_id, secret, scope="records:read records:write")
    assert "records:write" in assert_oauth_error(response, "invalid_scope")["error_description"]


def test_the_token_endpoint_only_accepts_post(http: httpx.Client) -> None:
    assert http.get("/oauth/token").status_code == 405


def test_an_api_key_is_not_an_access_token_and_the_reverse(
    http: httpx.Client, admin: httpx.Client, tenant: TenantClient
) -> None:
    """Each kind of credential works where it belongs, and nowhere else."""
    key = issue_api_key(admin, tenant.id, ["records:read"])
    token = fetch_token(http, tenant.client_id, tenant.client_secret)
    base = str(http.base_url)
    for credential in (key, token):
        with bearer(base, credential) as client:
            assert client.get("/v1/contacts").status_code == 200
            assert client.get("/admin/tenants").status_code == 401
    for not_a_bearer in (tenant.client_secret, tenant.client_id, token.replace("at_", "sk_")):
        with bearer(base, not_a_bearer) as client:
            assert client.get("/v1/contacts").status_code == 401
