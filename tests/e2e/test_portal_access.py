"""Opening the portal and the console: one-time links, session cookies, and what ends them."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest

from syncline.runtime import Runtime
from tests.conftest import ServerThread, TenantClient
from tests.support.clock import FakeClock
from tests.support.credentials import api_server as api_server_of
from tests.support.credentials import issue_api_key, key_prefix
from tests.support.poll import eventually
from tests.support.portal import BrowserClient, admin_link, opened, portal_link

CLIENT_SIDE_LOGGERS = ("httpx", "httpcore", "uvicorn.access")


def test_a_link_opens_one_session_once_and_the_cookie_is_locked_down(
    api_server: ServerThread, tenant: TenantClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = portal_link(tenant.client)
    token = link["url"].split("token=")[1]
    assert urlsplit(link["url"]).path == "/portal/session"
    browser = BrowserClient(api_server.url)
    exchanged = browser.follow(link["url"])
    assert exchanged.status_code == 303
    assert exchanged.headers["location"] == "/portal/"
    cookie = exchanged.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/portal" in cookie
    assert "Max-Age=3600" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS adds it
    page = browser.get("/portal/")
    assert page.status_code == 200
    assert "Webhook endpoints" in page.text
    assert token not in page.text
    assert browser.http.cookies["syncline_portal"] not in page.text

    again = BrowserClient(api_server.url).follow(link["url"])
    assert again.status_code == 403
    assert "not valid" in again.text
    assert "set-cookie" not in again.headers
    # What the server logs (the client's own httpx/httpcore lines aside; uvicorn's access
    # log is off in `syncline serve`, and syncline.logs keeps it at WARNING).
    logged = "\n".join(
        r.getMessage() + str(vars(r))
        for r in caplog.records
        if not r.name.startswith(CLIENT_SIDE_LOGGERS)
    )
    assert "syncline.access" in logged  # the request lines are there
    assert token not in logged
    assert browser.http.cookies["syncline_portal"] not in logged
    browser.close()


def test_the_session_needs_webhooks_manage_and_answers_the_documented_shape(
    admin: httpx.Client, api_server: ServerThread, tenant: TenantClient
) -> None:
    reader = issue_api_key(admin, tenant.id, ["records:read"])
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {reader}"}
    ) as client:
        refused = client.post("/v1/portal-sessions")
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "webhooks:manage"
    assert "token" not in refused.text
    answer = portal_link(tenant.client)
    assert set(answer) == {"url", "expires_at"}
    assert httpx.post(f"{api_server.url}/v1/portal-sessions").status_code == 401


def test_an_expired_link_and_an_expired_session_are_refused(
    runtime: Runtime, tenant: TenantClient
) -> None:
    clock = FakeClock()
    with api_server_of(runtime, clock) as server:
        key = tenant.api_key
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            stale, fresh = portal_link(client), portal_link(client)
        clock.advance(minutes=9, seconds=59)
        browser = opened(server.url, fresh)  # still valid just before 10 minutes
        clock.advance(2)
        late = BrowserClient(server.url).follow(stale["url"])
        assert late.status_code == 403
        assert browser.get("/portal/").status_code == 200
        clock.advance(minutes=60)
        ended = browser.get("/portal/")
        assert ended.status_code == 401
        assert "session has ended" in ended.text
        browser.close()


def test_the_operator_opens_a_tenants_portal_and_the_console(
    admin: httpx.Client, api_server: ServerThread, tenant: TenantClient
) -> None:
    portal = opened(
        api_server.url, admin_link(admin, f"/admin/tenants/{tenant.id}/portal-sessions")
    )
    assert portal.get("/portal/").status_code == 200
    # A portal cookie is not a console session, nor the reverse.
    assert portal.get("/console/").status_code == 401
    console = opened(api_server.url, admin_link(admin, "/admin/console-sessions"))
    assert console.get("/console/").status_code == 200
    assert console.get("/portal/").status_code == 401
    # A console link does not open the portal (and is spent by trying).
    link = admin_link(admin, "/admin/console-sessions")
    swapped = link["url"].replace("/console/session", "/portal/session")
    assert BrowserClient(api_server.url).follow(swapped).status_code == 403
    assert httpx.post(f"{api_server.url}/admin/console-sessions").status_code == 401
    unknown = admin.post(f"/admin/tenants/{uuid4()}/portal-sessions")
    assert unknown.status_code == 404
    portal.close()
    console.close()


def test_a_suspended_tenants_sessions_end_for_good(
    admin: httpx.Client, api_server: ServerThread, tenant: TenantClient
) -> None:
    own = opened(api_server.url, portal_link(tenant.client))
    operator = opened(
        api_server.url, admin_link(admin, f"/admin/tenants/{tenant.id}/portal-sessions")
    )
    assert own.get("/portal/").status_code == 200
    assert admin.post(f"/admin/tenants/{tenant.id}/suspend").status_code == 200
    for browser in (own, operator):
        ended = browser.get("/portal/")
        assert ended.status_code == 401, ended.text
    refused = admin.post(f"/admin/tenants/{tenant.id}/portal-sessions")
    assert refused.status_code == 409
    assert admin.post(f"/admin/tenants/{tenant.id}/reactivate").status_code == 200
    # The key works again once the API's credential cache hears it (within 5 s).
    eventually(lambda: tenant.get("/v1/webhooks").status_code == 200, "the key works", 6)
    assert own.get("/portal/").status_code == 401
    assert opened(api_server.url, portal_link(tenant.client)).get("/portal/").status_code == 200


@pytest.mark.parametrize("change", ["revoke", "narrow"])
def test_a_session_ends_when_its_credential_is_revoked_or_loses_the_scope(
    admin: httpx.Client, api_server: ServerThread, tenant: TenantClient, change: str
) -> None:
    key = issue_api_key(admin, tenant.id, ["webhooks:manage", "records:read"])
    other = opened(api_server.url, portal_link(tenant.client))  # the tenant's first key
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        browser = opened(api_server.url, portal_link(client))
    assert browser.get("/portal/").status_code == 200
    prefix = key_prefix(key)
    if change == "revoke":
        assert admin.delete(f"/admin/api-keys/{prefix}").status_code == 204
    else:
        narrowed = admin.patch(f"/admin/api-keys/{prefix}", json={"scopes": ["records:read"]})
        assert narrowed.status_code == 200
    assert browser.get("/portal/").status_code == 401
    assert other.get("/portal/").status_code == 200  # another credential's session goes on
    browser.close()
    other.close()


def test_signing_out_ends_the_session(api_server: ServerThread, tenant: TenantClient) -> None:
    browser = opened(api_server.url, portal_link(tenant.client))
    cookie = browser.http.cookies["syncline_portal"]
    token = browser.csrf("/portal/")
    assert browser.post("/portal/logout", token=token).status_code == 200
    with httpx.Client(base_url=api_server.url, cookies={"syncline_portal": cookie}) as replayed:
        assert replayed.get("/portal/").status_code == 401
    browser.close()


def test_over_https_the_cookie_is_secure(api_server: ServerThread, tenant: TenantClient) -> None:
    # A TLS-terminating proxy on 127.0.0.1 (uvicorn trusts its X-Forwarded-Proto).
    link = portal_link(tenant.client)
    exchanged = httpx.get(link["url"], headers={"X-Forwarded-Proto": "https"})
    assert exchanged.status_code == 303
    assert "Secure" in exchanged.headers["set-cookie"]
