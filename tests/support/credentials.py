"""What the authentication tests share: issuing credentials, fetching tokens, extra servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from api.app import create_app
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, ServerThread
from tests.support.clock import FakeClock

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def issue_api_key(admin: httpx.Client, tenant_id: str, scopes: list[str], **body: Any) -> str:
    response = admin.post(f"/admin/tenants/{tenant_id}/api-keys", json={"scopes": scopes, **body})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def create_oauth_client(
    admin: httpx.Client, tenant_id: str, scopes: list[str], **body: Any
) -> tuple[str, str]:
    response = admin.post(
        f"/admin/tenants/{tenant_id}/oauth-clients", json={"scopes": scopes, **body}
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    return answer["client_id"], answer["client_secret"]


def request_token(
    http: httpx.Client, client_id: str, client_secret: str, **form: str
) -> httpx.Response:
    """A token request authenticated with form fields."""
    body = {"grant_type": "client_credentials", "client_id": client_id, **form}
    return http.post("/oauth/token", data={**body, "client_secret": client_secret})


def fetch_token(http: httpx.Client, client_id: str, client_secret: str, **form: str) -> str:
    response = request_token(http, client_id, client_secret, **form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def admin_of(base_url: str) -> httpx.Client:
    return bearer(base_url, ADMIN_TOKEN)


@contextmanager
def api_server(runtime: Runtime, clock: FakeClock, **overrides: Any) -> Iterator[ServerThread]:
    """Another API server on `runtime`, with its own clock and Authenticator (cache)."""
    with ServerThread(create_app(runtime.api_services(clock=clock, **overrides))) as server:
        yield server


@contextmanager
def api_process(settings: Settings, clock: FakeClock, **overrides: Any) -> Iterator[ServerThread]:
    """An API server with a Runtime of its own (event store, pools, caches), as a separate
    `syncline serve` process would have, on the same database."""
    runtime = Runtime.open(settings, pool_size=3)
    try:
        with api_server(runtime, clock, **overrides) as server:
            yield server
    finally:
        runtime.close()


def key_prefix(key: str) -> str:
    """`sk_<id>`, the public part of an API key `sk_<id>_<secret>`."""
    return "_".join(key.split("_", 2)[:2])


def secret_part(credential: str) -> str:
    """The secret part of an API key, client secret or access token (prefix removed)."""
    return credential.split("_", 2)[2] if credential.startswith("sk_") else credential[3:]
