"""Portal pages over HTTP: headers that keep them private, bad input answered as a page
(never a 500), and the actions an endpoint page offers."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ServerThread, TenantClient
from tests.support.credentials import key_prefix
from tests.support.poll import eventually
from tests.support.portal import BrowserClient, opened, portal_link
from tests.support.receiver import Receiver
from tests.support.webhooks import Workers, contact, deliveries, settled_all, subscribe


@pytest.fixture
def browser(api_server: ServerThread, tenant: TenantClient) -> BrowserClient:
    return opened(api_server.url, portal_link(tenant.client))


def test_pages_are_private_unframeable_and_load_only_the_packages_files(
    browser: BrowserClient, api_server: ServerThread
) -> None:
    page = browser.get("/portal/")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    for asset in re.findall(r'(?:src|href)="(/portal-static/[^"]+)"', page.text):
        assert httpx.get(f"{api_server.url}{asset}").status_code == 200, asset
    htmx = httpx.get(f"{api_server.url}/portal-static/htmx.min.js")
    assert htmx.text.startswith("/*! htmx 2.0.11")


@pytest.mark.parametrize(
    "query",
    [
        {"state": "lost"},
        {"event_type": "order.exploded"},
        {"since": "yesterday"},
        {"before": "x1"},
        {"before": "9" * 40},
    ],
)
def test_a_bad_filter_is_a_422_page_that_names_it(
    browser: BrowserClient, tenant: TenantClient, query: dict[str, str]
) -> None:
    hook = subscribe(tenant, "http://127.0.0.1:9/f", ["contact.created"])
    answer = browser.get(f"/portal/endpoints/{hook['id']}/deliveries", params=query)
    assert answer.status_code == 422
    assert next(iter(query)) in answer.text
    assert "text/html" in answer.headers["content-type"]


def test_bad_forms_are_answered_as_pages_and_change_nothing(
    browser: BrowserClient, tenant: TenantClient, caught_up: Callable[[], None]
) -> None:
    hook = subscribe(tenant, "http://127.0.0.1:9/f", ["contact.created"])
    base = f"/portal/endpoints/{hook['id']}"
    token = browser.csrf(base)
    for path, form, status in (
        ("/portal/endpoints", {"url": "ftp://x", "event_types": ["contact.created"]}, 422),
        ("/portal/endpoints", {"url": "http://127.0.0.1:9/x", "event_types": ["nope"]}, 422),
        (base, {"url": "not a url", "event_types": ["contact.created"]}, 422),
        (f"{base}/status", {"status": "paused"}, 422),
        (f"{base}/replay", {}, 422),
        (f"{base}/replay", {"after": "not-a-cursor"}, 422),
        (f"{base}/replay", {"since": "2026-01-01T00:00", "after": "x"}, 422),
        (f"{base}/replay", {"since": "soon"}, 422),
    ):
        answer = browser.post(path, form, token=token)
        assert answer.status_code == status, (path, form, answer.text[:300])
        assert "text/html" in answer.headers["content-type"]
    # No such route: the app's own 404 (a problem), not a 500.
    assert browser.post("/portal/endpoints/not-a-uuid/test", token=token).status_code == 404
    after = tenant.get(f"/v1/webhooks/{hook['id']}").json()
    assert after["url"] == hook["url"]
    assert after["status"] == "active"
    caught_up()  # the list reads the read model
    assert len(tenant.get("/v1/webhooks").json()["data"]) == 1


def test_the_endpoint_actions_do_what_they_say(
    browser: BrowserClient, tenant: TenantClient
) -> None:
    hook = subscribe(tenant, "http://127.0.0.1:9/a", ["contact.created"])
    base = f"/portal/endpoints/{hook['id']}"
    token = browser.csrf(base)
    edited = browser.post(
        base,
        {"url": "http://127.0.0.1:9/b", "event_types": ["order.*"], "description": "ERP"},
        token=token,
    )
    assert edited.status_code == 303
    now = tenant.get(f"/v1/webhooks/{hook['id']}").json()
    assert (now["url"], now["event_types"], now["description"]) == (
        "http://127.0.0.1:9/b",
        ["order.*"],
        "ERP",
    )
    assert browser.post(f"{base}/status", {"status": "disabled"}, token=token).status_code == 303
    page = browser.get(base)
    assert "Disabled because" in page.text
    assert "manual" in page.text
    assert tenant.get(f"/v1/webhooks/{hook['id']}").json()["status"] == "disabled"
    assert browser.post(f"{base}/status", {"status": "active"}, token=token).status_code == 303
    rotated = browser.post(f"{base}/rotate-secret", token=token)
    assert rotated.status_code == 200
    secret = re.search(r'value="(whsec_[^"]+)"', rotated.text)
    assert secret
    assert secret.group(1) not in browser.get(base).text  # shown once
    replayed = browser.post(f"{base}/replay", {"since": "2026-01-01T00:00"}, token=token)
    assert replayed.status_code == 303
    assert "sent=replay-" in replayed.headers["location"]
    events = tenant.get("/v1/events", params={"entity_id": hook["id"]}).json()["data"]
    assert events[-1]["actor"] == {"type": "api_key", "id": key_prefix(tenant.api_key)}
    confirm = browser.get(f"{base}/delete")  # the page asks first
    assert confirm.status_code == 200
    assert "Delete this endpoint?" in confirm.text
    assert tenant.get(f"/v1/webhooks/{hook['id']}").status_code == 200
    assert browser.post(f"{base}/delete", token=token).status_code == 303
    assert tenant.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert browser.get(base).status_code == 404


def test_a_deliverys_page_shows_each_attempts_request_headers_as_sent(
    browser: BrowserClient, tenant: TenantClient, workers: Workers
) -> None:
    with Receiver() as endpoint:
        hook = subscribe(tenant, endpoint.url, ["contact.created"])
        workers.start()
        contact(tenant, "sent-headers@example.com")
        eventually(lambda: settled_all(tenant, hook) and endpoint.received, "delivered")
    [delivery] = deliveries(tenant, hook["id"])
    page = browser.get(f"/portal/endpoints/{hook['id']}/deliveries/{delivery['id']}")
    assert page.status_code == 200
    assert "Request headers of attempt 1" in page.text
    received = endpoint.received[0].headers
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "X-Signature-256"):
        row = f'<th scope="row">{name}</th><td>{html.escape(received[name.lower()])}</td>'
        assert row in page.text, name
    assert hook["secret"] not in page.text
    tenant.delete(f"/v1/webhooks/{hook['id']}")
