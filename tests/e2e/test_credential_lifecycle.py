"""The operator's credential lifecycle over HTTP: issue, list, rotate, narrow, revoke, expire,
suspend — each refused by every API process from the next request on (the operator's call
returns once every process's Authenticator cache has applied the change; only a process
that cannot hear changes falls back to its 5 s expiry)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx

from api.auth import AUTH_CHANNEL, CACHE_SECONDS
from api.auth_sync import SETTLE_SECONDS
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import ServerThread, TenantClient
from tests.support.clock import FakeClock
from tests.support.credentials import (
    admin_of,
    api_process,
    api_server,
    bearer,
    create_oauth_client,
    fetch_token,
    issue_api_key,
    key_prefix,
    request_token,
    secret_part,
)


def notified(server: ServerThread) -> ServerThread:
    """`server` once its cache hears credential changes (its listener is connected)."""
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/readyz").json().get("auth_cache") != "notified":
        assert time.monotonic() < deadline, "the API's listener did not connect"
        time.sleep(0.02)
    return server


def refused(
    client: httpx.Client, status: int = 401, send: Callable[[], httpx.Response] | None = None
) -> bool:
    """Whether the very next request of `client` is refused with `status` (the operator's
    call returned only once every API process had applied the change)."""
    send = send or (lambda: client.get("/v1/contacts"))
    answer = send().status_code
    assert answer in (status, 200, 201), answer
    return answer == status


def accepted(client: httpx.Client) -> bool:
    """Whether the very next request of `client` is served."""
    answer = client.get("/v1/contacts").status_code
    assert answer in (200, 401), answer
    return answer == 200


def test_issue_an_api_key_with_scopes_and_expiry(
    admin: httpx.Client, http: httpx.Client, tenant: TenantClient
) -> None:
    expires_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    response = admin.post(
        f"/admin/tenants/{tenant.id}/api-keys",
        json={"scopes": ["records:read"], "expires_at": expires_at},
    )
    assert response.status_code == 201
    body = response.json()
    assert {"id", "key", "scopes"} <= set(body)
    assert body["scopes"] == ["records:read"]
    assert body["key"].startswith(body["prefix"] + "_")
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromisoformat(expires_at)
    with bearer(str(http.base_url), body["key"]) as client:
        assert client.get("/v1/contacts").status_code == 200
        assert client.post("/v1/contacts", json={"email": "a@example.com"}).status_code == 403


def test_bad_issue_requests_are_refused(admin: httpx.Client, tenant: TenantClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        (f"/admin/tenants/{tenant.id}/api-keys", {"scopes": []}, 422),
        (f"/admin/tenants/{tenant.id}/api-keys", {"scopes": ["admin"]}, 422),
        (f"/admin/tenants/{tenant.id}/api-keys", {}, 422),
        (f"/admin/tenants/{tenant.id}/api-keys", {"scopes": ["records:read"], "x": 1}, 422),
        (
            f"/admin/tenants/{tenant.id}/api-keys",
            {"scopes": ["records:read"], "expires_at": past},
            422,
        ),
        (
            f"/admin/tenants/{tenant.id}/api-keys",
            {"scopes": ["records:read"], "expires_at": "2999-01-01T00:00:00"},
            422,
        ),
        (f"/admin/tenants/{tenant.id}/oauth-clients", {"scopes": "records:read"}, 422),
        (f"/admin/tenants/{uuid4()}/api-keys", {"scopes": ["records:read"]}, 404),
        (f"/admin/tenants/{uuid4()}/oauth-clients", {"scopes": ["records:read"]}, 404),
    ]
    for path, body, status in cases:
        response = admin.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_credential_list_shows_status_and_never_secrets(
    admin: httpx.Client, tenant: TenantClient, caught_up
) -> None:
    client_id, client_secret = create_oauth_client(admin, tenant.id, ["events:read"])
    key = issue_api_key(admin, tenant.id, ["records:read"])
    prefix = key_prefix(key)
    assert admin.delete(f"/admin/api-keys/{prefix}").status_code == 204
    caught_up()
    response = admin.get(f"/admin/tenants/{tenant.id}/credentials", params={"limit": 2})
    assert response.status_code == 200
    page = response.json()
    assert page["has_more"] is True
    rest = admin.get(
        f"/admin/tenants/{tenant.id}/credentials", params={"cursor": page["next_cursor"]}
    ).json()
    listed = {c["public_id"]: c for c in page["data"] + rest["data"]}
    assert len(listed) == 4  # the connection's key and client, and the two above
    assert listed[client_id]["kind"] == "oauth_client"
    assert listed[client_id]["status"] == "active"
    assert listed[prefix]["status"] == "revoked"
    assert listed[prefix]["revoked_at"] is not None
    text = response.text + str(rest)
    for secret in (tenant.api_key, tenant.client_secret, client_secret, key):
        assert secret not in text
        assert secret_part(secret) not in text
    assert admin.get(f"/admin/tenants/{uuid4()}/credentials").status_code == 404
    foreign = admin.get(
        f"/admin/tenants/{uuid4()}/credentials", params={"cursor": page["next_cursor"]}
    )
    assert foreign.status_code == 404


def test_credentials_are_found_by_id_prefix_or_client_id_but_never_by_whole_key(
    admin: httpx.Client, tenant: TenantClient
) -> None:
    prefix = key_prefix(tenant.api_key)
    by_prefix = admin.get(f"/admin/credentials/{prefix}")
    assert by_prefix.status_code == 200
    assert admin.get(f"/admin/credentials/{by_prefix.json()['id']}").json() == by_prefix.json()
    assert admin.get(f"/admin/credentials/{tenant.client_id}").json()["kind"] == "oauth_client"
    whole = admin.get(f"/admin/credentials/{tenant.api_key}")
    assert whole.status_code == 400
    assert secret_part(tenant.api_key) not in whole.text
    assert admin.get("/admin/credentials/nonsense").status_code == 400
    assert admin.get(f"/admin/credentials/{uuid4()}").status_code == 404
    # An API key is not an OAuth client, and the reverse.
    assert admin.delete(f"/admin/oauth-clients/{prefix}").status_code == 404
    assert admin.delete(f"/admin/api-keys/{tenant.client_id}").status_code == 404
    assert admin.post(f"/admin/oauth-clients/{prefix}/rotate").status_code == 404


def test_history_records_who_did_what_in_which_request(
    admin: httpx.Client, http: httpx.Client, tenant: TenantClient
) -> None:
    client_id, _ = create_oauth_client(admin, tenant.id, ["records:read", "records:write"])
    steps = [
        ("patch", f"/admin/oauth-clients/{client_id}", {"scopes": ["records:read"]}, "req-narrow"),
        ("post", f"/admin/oauth-clients/{client_id}/rotate", None, "req-rotate"),
        ("delete", f"/admin/oauth-clients/{client_id}", None, "req-revoke"),
    ]
    for method, path, body, request_id in steps:
        response = admin.request(
            method.upper(), path, json=body, headers={"X-Request-ID": request_id}
        )
        assert response.status_code in (200, 204), response.text
    # Revoking again changes nothing.
    assert admin.delete(f"/admin/oauth-clients/{client_id}").status_code == 204
    assert admin.post(f"/admin/oauth-clients/{client_id}/rotate").status_code == 409
    assert (
        admin.patch(
            f"/admin/oauth-clients/{client_id}", json={"scopes": ["events:read"]}
        ).status_code
        == 409
    )

    history = admin.get(f"/admin/credentials/{client_id}/history").json()["data"]
    assert [h["type"] for h in history] == [
        "credential.created",
        "credential.scopes_changed",
        "credential.rotated",
        "credential.revoked",
    ]
    assert all(h["actor"] == {"type": "operator", "id": "admin"} for h in history)
    assert [h["correlation_id"] for h in history[1:]] == ["req-narrow", "req-rotate", "req-revoke"]
    assert history[1]["scopes"] == ["records:read"]
    assert history[1]["previous_scopes"] == ["records:read", "records:write"]
    assert "secret" not in str(history)


def test_suspension_stops_every_credential_until_reactivation(
    runtime: Runtime, tenant: TenantClient
) -> None:
    clock = FakeClock()
    with api_server(runtime, clock) as server, admin_of(server.url) as admin:
        notified(server)
        with httpx.Client(base_url=server.url) as anonymous:
            token = fetch_token(anonymous, tenant.client_id, tenant.client_secret)
        key_client, token_client = bearer(server.url, tenant.api_key), bearer(server.url, token)
        for client in (key_client, token_client):
            assert client.get("/v1/contacts").status_code == 200

        suspended = admin.post(f"/admin/tenants/{tenant.id}/suspend")
        assert suspended.status_code == 200
        assert suspended.json()["status"] == "suspended"
        assert admin.get(f"/admin/tenants/{tenant.id}").json()["status"] == "suspended"
        assert admin.post(f"/admin/tenants/{tenant.id}/suspend").status_code == 409

        for client in (key_client, token_client):
            assert refused(client)
            denied = client.get("/v1/contacts")
            assert denied.status_code == 401
            assert denied.headers["content-type"].startswith("application/problem+json")
        with httpx.Client(base_url=server.url) as anonymous:
            assert (
                request_token(anonymous, tenant.client_id, tenant.client_secret).json()["error"]
                == "unauthorized_client"
            )

        assert admin.post(f"/admin/tenants/{tenant.id}/reactivate").json()["status"] == "active"
        for client in (key_client, token_client):
            assert accepted(client)  # the cached refusals go with the notification
            client.close()


def test_access_tokens_and_keys_expire_on_time(runtime: Runtime, tenant: TenantClient) -> None:
    clock = FakeClock()
    with api_server(runtime, clock, access_token_lifetime=timedelta(minutes=10)) as server:
        with httpx.Client(base_url=server.url) as anonymous:
            response = request_token(anonymous, tenant.client_id, tenant.client_secret)
        assert response.json()["expires_in"] == 600
        with admin_of(server.url) as admin:
            expires_at = (clock.now() + timedelta(minutes=5)).isoformat()
            key = issue_api_key(admin, tenant.id, ["records:read"], expires_at=expires_at)
        token_client = bearer(server.url, response.json()["access_token"])
        key_client = bearer(server.url, key)
        assert token_client.get("/v1/contacts").status_code == 200
        assert key_client.get("/v1/contacts").status_code == 200

        clock.advance(5 * 60 - 1)
        assert key_client.get("/v1/contacts").status_code == 200
        clock.advance(1)  # exact, cache or not
        assert key_client.get("/v1/contacts").status_code == 401
        assert token_client.get("/v1/contacts").status_code == 200

        clock.advance(5 * 60 - 1)
        assert token_client.get("/v1/contacts").status_code == 200
        clock.advance(1)
        assert token_client.get("/v1/contacts").status_code == 401
        token_client.close()
        key_client.close()


def test_an_oauth_client_expiry_caps_its_tokens(runtime: Runtime, tenant: TenantClient) -> None:
    clock = FakeClock()
    with api_server(runtime, clock) as server, admin_of(server.url) as admin:
        expires_at = (clock.now() + timedelta(minutes=2)).isoformat()
        client_id, secret = create_oauth_client(
            admin, tenant.id, ["records:read"], expires_at=expires_at
        )
        with httpx.Client(base_url=server.url) as anonymous:
            answer = request_token(anonymous, client_id, secret).json()
            assert answer["expires_in"] == 120
            clock.advance(120)
            assert request_token(anonymous, client_id, secret).json()["error"] == "invalid_client"
        with bearer(server.url, answer["access_token"]) as client:
            assert client.get("/v1/contacts").status_code == 401


def test_revocation_reaches_another_api_process_before_the_call_returns(
    test_settings: Settings, tenant: TenantClient
) -> None:
    """Two API processes (own event store handles, pools, caches and listeners) on one
    database: B has the credentials cached; the operator revokes on A; B refuses them from
    the next request on, not after its cache window. Twenty times over, for keys and
    tokens."""
    clock_a, clock_b = FakeClock(), FakeClock()
    with api_process(test_settings, clock_a) as a, api_process(test_settings, clock_b) as b:
        notified(b)
        with admin_of(a.url) as admin, httpx.Client(base_url=a.url) as anonymous:
            for _ in range(20):
                key = issue_api_key(admin, tenant.id, ["records:read"])
                client_id, secret = create_oauth_client(admin, tenant.id, ["records:read"])
                token = fetch_token(anonymous, client_id, secret)
                on_b = [bearer(b.url, key), bearer(b.url, token)]
                for client in on_b:
                    assert client.get("/v1/contacts").status_code == 200  # now cached on B
                assert admin.delete(f"/admin/api-keys/{key_prefix(key)}").status_code == 204
                assert refused(on_b[0])
                assert admin.delete(f"/admin/oauth-clients/{client_id}").status_code == 204
                assert refused(on_b[1])
                for client in on_b:
                    client.close()


def test_the_operators_call_waits_for_a_process_that_hears_the_change_late(
    test_settings: Settings, tenant: TenantClient
) -> None:
    """B handles every credential notification SLOW seconds after it arrives (a stalled or
    distant process): the revocation on A returns only once B has applied it, so B refuses
    the key from the next request on."""
    slow = 0.3
    clock_a, clock_b = FakeClock(), FakeClock()
    with api_process(test_settings, clock_a) as a, api_process(test_settings, clock_b) as b:
        listener = notified(b).server.config.app.state.services.change_listener
        loop = listener._task.get_loop()
        handle = listener._handlers[AUTH_CHANNEL]
        listener._handlers[AUTH_CHANNEL] = lambda payload: loop.call_later(slow, handle, payload)
        with admin_of(a.url) as admin:
            key = issue_api_key(admin, tenant.id, ["records:read"])
            with bearer(b.url, key) as on_b:
                assert on_b.get("/v1/contacts").status_code == 200  # now cached on B
                started = time.monotonic()
                assert admin.delete(f"/admin/api-keys/{key_prefix(key)}").status_code == 204
                assert refused(on_b)
                assert time.monotonic() - started >= slow  # it waited for B


def test_without_its_listener_an_api_process_falls_back_to_the_cache_window(
    test_settings: Settings, tenant: TenantClient
) -> None:
    """B's listening session is down: /readyz says the cache is timed, a revocation on A
    does not wait for B, and reaches B once B's entries age out, no later than
    CACHE_SECONDS."""
    clock_a, clock_b = FakeClock(), FakeClock()
    with api_process(test_settings, clock_a) as a, api_process(test_settings, clock_b) as b:
        listener = notified(b).server.config.app.state.services.change_listener
        loop = listener._task.get_loop()
        asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(timeout=10)
        assert httpx.get(f"{b.url}/readyz").json()["auth_cache"] == "timed"
        with admin_of(a.url) as admin:
            key = issue_api_key(admin, tenant.id, ["records:read"])
        with bearer(b.url, key) as on_b:
            assert on_b.get("/v1/contacts").status_code == 200  # now cached on B
            with admin_of(a.url) as admin:
                started = time.monotonic()
                assert admin.delete(f"/admin/api-keys/{key_prefix(key)}").status_code == 204
                # B's session is gone: the call does not wait for B.
                assert time.monotonic() - started < SETTLE_SECONDS
            clock_b.advance(CACHE_SECONDS - 0.5)
            assert on_b.get("/v1/contacts").status_code == 200  # the documented window
            clock_b.advance(0.5)
            assert on_b.get("/v1/contacts").status_code == 401


def test_rotation_and_narrowing_reach_outstanding_tokens(
    runtime: Runtime, tenant: TenantClient
) -> None:
    clock = FakeClock()
    with api_server(runtime, clock) as server, admin_of(server.url) as admin:
        notified(server)
        anonymous = httpx.Client(base_url=server.url)
        client_id, secret = create_oauth_client(admin, tenant.id, ["records:read", "records:write"])
        narrowed = bearer(server.url, fetch_token(anonymous, client_id, secret))
        assert narrowed.post("/v1/contacts", json={"email": "n@example.com"}).status_code == 201
        assert admin.patch(
            f"/admin/oauth-clients/{client_id}", json={"scopes": ["records:read"]}
        ).json()["scopes"] == ["records:read"]
        assert refused(
            narrowed, 403, lambda: narrowed.post("/v1/contacts", json={"email": "n@x.io"})
        )
        denied = narrowed.post("/v1/contacts", json={"email": "n2@example.com"})
        assert denied.status_code == 403
        assert denied.json()["required_scope"] == "records:write"
        assert narrowed.get("/v1/contacts").status_code == 200

        new_secret = admin.post(f"/admin/oauth-clients/{client_id}/rotate").json()["client_secret"]
        assert refused(narrowed)
        with bearer(server.url, fetch_token(anonymous, client_id, new_secret)) as fresh:
            assert fresh.get("/v1/contacts").status_code == 200
        narrowed.close()
        anonymous.close()


def test_api_key_scopes_can_be_changed(admin: httpx.Client, tenant: TenantClient) -> None:
    key = issue_api_key(admin, tenant.id, ["records:read"])
    prefix = key_prefix(key)
    changed = admin.patch(f"/admin/api-keys/{prefix}", json={"scopes": ["events:read"]})
    assert changed.status_code == 200
    assert changed.json()["scopes"] == ["events:read"]
    assert admin.patch(f"/admin/api-keys/{prefix}", json={"scopes": []}).status_code == 422
    assert admin.patch(f"/admin/api-keys/{prefix}", json={"scopes": ["root"]}).status_code == 422


def test_operator_routes_need_the_admin_token(http: httpx.Client, tenant: TenantClient) -> None:
    routes = [
        ("GET", "/admin/tenants"),
        ("GET", f"/admin/tenants/{tenant.id}"),
        ("POST", f"/admin/tenants/{tenant.id}/suspend"),
        ("GET", f"/admin/tenants/{tenant.id}/credentials"),
        ("POST", f"/admin/tenants/{tenant.id}/oauth-clients"),
        ("DELETE", f"/admin/oauth-clients/{tenant.client_id}"),
        ("POST", f"/admin/oauth-clients/{tenant.client_id}/rotate"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": f"Bearer {tenant.api_key}"}):
            response = http.request(
                method, path, headers=headers, json={"scopes": ["records:read"]}
            )
            assert response.status_code == 401, (method, path, headers)
    assert tenant.get("/v1/contacts").status_code == 200  # nothing above took effect
