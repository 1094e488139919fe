"""A portal session reaches its own tenant's data only, and every form needs its CSRF token.

Every portal route that takes an endpoint id is tried with another tenant's endpoint, and
every one that takes a delivery id with another tenant's delivery: each answers 404
and changes nothing. The routes come from the running app, so a new page is covered."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread, TenantClient
from tests.support.poll import eventually
from tests.support.portal import BrowserClient, opened, portal_link
from tests.support.webhooks import subscribe

FORM = {
    "url": "http://127.0.0.1:9/hook",
    "event_types": ["contact.created"],
    "since": "2026-01-01T00:00",
}


def first_delivery(browser: BrowserClient, hook_id: str) -> str:
    """The id of the endpoint's newest delivery, once its page lists one."""
    found: list[str] = []

    def listed() -> bool:
        page = browser.get(f"/portal/endpoints/{hook_id}/deliveries")
        found[:] = re.findall(
            rf"/portal/endpoints/{hook_id}/deliveries/([0-9a-f-]{{36}})", page.text
        )
        return bool(found)

    eventually(listed, "the delivery is listed", 30)
    return found[0]


def portal_routes(server: ServerThread) -> list[tuple[str, str]]:
    """(method, path template) of every portal route with a path parameter."""
    app: Any = server.server.config.app
    found = []
    for route in app.routes:
        if route.path.startswith("/portal/") and "{" in route.path:
            for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
                found.append((method, route.path))
    return found


@pytest.fixture
def foreign(api_server: ServerThread, other_tenant: TenantClient) -> dict[str, Any]:
    hook = subscribe(other_tenant, "http://127.0.0.1:9/hook", ["contact.created"])
    assert other_tenant.post(f"/v1/webhooks/{hook['id']}/test").status_code == 202
    browser = opened(api_server.url, portal_link(other_tenant.client))
    delivery_id = first_delivery(browser, hook["id"])
    browser.close()
    return {"hook": hook, "delivery": delivery_id}


def test_every_page_and_action_with_a_foreign_id_is_not_found(
    api_server: ServerThread,
    tenant: TenantClient,
    other_tenant: TenantClient,
    foreign: dict[str, Any],
    caught_up: Callable[[], None],
) -> None:
    own_hook = subscribe(tenant, "http://127.0.0.1:9/own", ["contact.created"])
    browser = opened(api_server.url, portal_link(tenant.client))
    token = browser.csrf("/portal/")
    before = other_tenant.get(f"/v1/webhooks/{foreign['hook']['id']}").json()
    tried = []
    for method, template in portal_routes(api_server):
        for hook_id in (foreign["hook"]["id"], own_hook["id"]):
            if hook_id == own_hook["id"] and "{delivery_id" not in template:
                continue  # own endpoint: only a foreign delivery id is foreign
            path = re.sub(r"\{webhook_id:uuid\}", hook_id, template)
            path = re.sub(r"\{delivery_id:uuid\}", foreign["delivery"], path)
            if "{" in path:
                continue  # not an endpoint route (none today)
            answer = (
                browser.get(path)
                if method == "GET"
                else browser.post(path, {**FORM, "status": "disabled"}, token=token)
            )
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert foreign["hook"]["url"] not in answer.text
            tried.append((method, template))
    assert len(set(tried)) >= 10, tried  # every endpoint and delivery page and action
    after = other_tenant.get(f"/v1/webhooks/{foreign['hook']['id']}").json()
    assert after == before  # not edited, disabled, rotated or deleted
    caught_up()  # a test event or replay would be enqueued by now
    deliveries = other_tenant.get(f"/v1/webhooks/{foreign['hook']['id']}/deliveries").json()
    assert len(deliveries["data"]) == 1  # no test event or replay was added
    browser.close()


def test_a_post_without_its_sessions_csrf_token_is_refused(
    api_server: ServerThread,
    tenant: TenantClient,
    other_tenant: TenantClient,
    caught_up: Callable[[], None],
) -> None:
    browser = opened(api_server.url, portal_link(tenant.client))
    other = opened(api_server.url, portal_link(other_tenant.client))
    foreign_token = other.csrf("/portal/")
    create = {"url": "http://127.0.0.1:9/csrf", "event_types": ["contact.created"]}
    for token in (None, "", foreign_token, "0" * 64):
        refused = browser.post("/portal/endpoints", create, token=token)
        assert refused.status_code == 403, token
        assert "CSRF" in refused.text
    caught_up()  # the barrier: everything committed so far is in the read models
    assert tenant.get("/v1/webhooks").json()["data"] == []  # nothing was created
    cookie = browser.http.cookies["syncline_portal"]
    with httpx.Client(base_url=api_server.url, cookies={"syncline_portal": cookie}) as bare:
        assert bare.post("/portal/logout").status_code == 403
    assert browser.get("/portal/").status_code == 200  # the session was not signed out
    token = browser.csrf("/portal/")
    made = browser.post("/portal/endpoints", create, token=token)
    assert made.status_code == 200, made.text
    assert "whsec_" in made.text  # the secret, shown once
    with_header = browser.http.post("/portal/logout", headers={"X-CSRFToken": token})
    assert with_header.status_code == 200
    browser.close()
    other.close()
