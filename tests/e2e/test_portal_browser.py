"""The portal and the console in a real browser (Debian's chromium, driven by Playwright),
against a live server and delivery worker: a subscriber opens the portal, adds an endpoint
pointed at a local receiver, sends a test and sees it delivered, sees a failed attempt and
its response; the operator suspends the tenant and the subscriber's session ends. Every
page is checked for labelled, Tab-reachable controls, and the read-only pages are read again
with JavaScript off. Screenshots of each page go to the run's temporary directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from delivery.retry import RetrySchedule
from tests.conftest import ServerThread, TenantClient
from tests.support.browser import OfflinePage, browser
from tests.support.poll import eventually
from tests.support.portal import admin_link, portal_link
from tests.support.receiver import Receiver
from tests.support.webhooks import Workers

__all__ = ["browser"]  # fixture

pytestmark = pytest.mark.slow

# Every control a keyboard user must reach, and what labels it.
CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex='0']"
UNLABELLED = """() => Array.from(document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button")).filter(el => {
  if (el.tagName === "BUTTON") return !(el.textContent.trim() || el.getAttribute("aria-label"));
  return !((el.labels && el.labels.length) || el.getAttribute("aria-label"));
}).map(el => el.outerHTML)"""
MARK_CONTROLS = f"""() => {{
  const all = Array.from(document.querySelectorAll("{CONTROLS}"))
    .filter(el => el.checkVisibility());
  all.forEach((el, i) => el.setAttribute("data-control", String(i)));
  return all.length;
}}"""
FOCUSED = "() => document.activeElement && document.activeElement.getAttribute('data-control')"


class Screens:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[str] = []

    def take(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.directory / f"{name}.png"), full_page=True)
        self.taken.append(name)


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Screens:
    return Screens(tmp_path_factory.mktemp("portal-screens"))


@pytest.fixture
def pages(browser: Any) -> Iterator[list[OfflinePage]]:
    opened: list[OfflinePage] = []
    yield opened
    for page in opened:
        page.close()


def new_page(browser: Any, pages: list[OfflinePage]) -> Any:
    page = OfflinePage(browser)
    pages.append(page)
    return page.page


def check_keyboard(page: Any) -> None:
    """Every control has a label, and Tab reaches each one."""
    assert page.evaluate(UNLABELLED) == [], page.url
    count = page.evaluate(MARK_CONTROLS)
    page.locator("body").focus()
    reached: set[str] = set()
    everything = {str(i) for i in range(count)}
    # A date-time input takes a Tab stop per part (day, month, year, hour, minute).
    for _ in range(count * 8 + 5):
        page.keyboard.press("Tab")
        mark = page.evaluate(FOCUSED)
        if mark is not None:
            reached.add(mark)
        if reached == everything:
            break
    assert reached == everything, page.url


def reload_until(page: Any, selector: str, text: str, timeout: float = 20.0) -> None:
    page.wait_for_load_state()
    url = page.url

    def shown() -> bool:
        page.goto(url)
        return text in page.locator(selector).inner_text()

    eventually(shown, f"{text!r} in {selector}", timeout, interval=0.3)


def test_subscriber_debugs_an_endpoint_and_the_operator_suspends_the_tenant(
    browser: Any,
    pages: list[OfflinePage],
    api_server: ServerThread,
    admin: httpx.Client,
    hooks_tenant: TenantClient,
    workers: Workers,
    screens: Screens,
) -> None:
    workers.start(schedule=RetrySchedule(delays=(0.0, 600.0), jitter=0.0))
    with Receiver() as receiver:
        page = new_page(browser, pages)
        link = portal_link(hooks_tenant.client)
        page.goto(link["url"])
        assert page.url == f"{api_server.url}/portal/"  # the token is gone from the URL
        assert "token" not in page.url
        screens.take(page, "portal-endpoints-empty")
        check_keyboard(page)

        page.get_by_role("link", name="Add an endpoint").click()
        page.get_by_label("Endpoint URL").fill(f"{receiver.url}/hook")
        page.get_by_label("Description (optional)").fill("ERP sync")
        page.get_by_label("contact.created", exact=True).check()
        check_keyboard(page)
        screens.take(page, "portal-endpoint-new")
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.get_by_label(re.compile("Signing secret")).input_value()
        assert secret.startswith("whsec_")
        assert secret not in page.url
        screens.take(page, "portal-secret-once")

        page.get_by_role("link", name="Continue to the endpoint").click()
        endpoint_url = page.url
        check_keyboard(page)
        screens.take(page, "portal-endpoint")
        page.get_by_role("button", name="Send a test event").click()
        assert "/deliveries" in page.url
        reload_until(page, "#deliveries", "delivered")
        assert receiver.wait_count(1)
        assert receiver.events()[0]["type"] == "webhook.ping"
        check_keyboard(page)
        screens.take(page, "portal-deliveries")
        # With JavaScript on, the filter swaps the table in place (htmx) and keeps the URL.
        page.evaluate("window.__kept = true")  # gone if the whole page reloaded
        page.get_by_label("State").select_option("failed")
        page.get_by_role("button", name="Filter").click()
        page.get_by_text("No deliveries match these filters").wait_for(timeout=10_000)
        assert "state=failed" in page.url
        assert page.evaluate("window.__kept === true")

        receiver.respond = lambda _: (
            503,
            {"X-Upstream": "down"},
            b'<script>alert("x")</script> maintenance',
        )
        page.goto(endpoint_url)
        page.get_by_role("button", name="Send a test event").click()
        reload_until(page, "#deliveries", "pending")
        page.locator("#deliveries tbody tr").first.get_by_role("link").click()
        # The attempts refresh themselves (htmx) while the delivery is pending.
        attempt = page.locator("tr.attempt").first
        attempt.wait_for(timeout=20_000)
        assert "503" in attempt.inner_text()
        assert '"type":"webhook.ping"' in page.get_by_label("Request body").inner_text()
        page.get_by_text("Response to attempt 1 (503)").click()
        response = page.get_by_label("Response body of attempt 1")
        # What the endpoint answered is shown as text, never run as markup.
        assert response.inner_text() == '<script>alert("x")</script> maintenance'
        assert "X-Upstream" in page.locator("details.response").inner_text()
        check_keyboard(page)
        screens.take(page, "portal-delivery-failed")

        receiver.respond = lambda _: 200
        page.get_by_role("button", name="Retry now").click()
        assert "retried=1" in page.url
        # The page follows the delivery (htmx) until it settles.
        page.locator("#delivery-state", has_text="delivered").wait_for(timeout=20_000)
        assert page.locator("tr.attempt").count() == 2
        assert receiver.received[-1].status == 200
        screens.take(page, "portal-delivery-retried")

        page.goto(endpoint_url)  # health: 3 attempts (delivered, 503, retried), drawn
        assert "3 attempts, 66.7% delivered" in page.locator("main").inner_text()
        chart = page.get_by_role("img", name="Delivery attempts per hour, last 24 hours")
        assert chart.locator("rect").count() == 2  # one hour: attempts and delivered bars
        screens.take(page, "portal-endpoint-health")

        page.goto(f"{api_server.url}/portal/")  # the list follows the read model
        reload_until(page, "main", f"{receiver.url}/hook")
        check_keyboard(page)
        screens.take(page, "portal-endpoints")

        page.goto(f"{api_server.url}/portal/event-types")
        check_keyboard(page)
        screens.take(page, "portal-event-catalog")

        # The operator, in the console, suspends the tenant.
        console = new_page(browser, pages)
        console.goto(admin_link(admin, "/admin/console-sessions")["url"])
        assert console.url == f"{api_server.url}/console/"
        console.get_by_label(re.compile("Search by name or id")).fill(hooks_tenant.id)
        console.get_by_role("button", name="Search").click()
        check_keyboard(console)
        screens.take(console, "console-tenants")
        console.locator("table a").first.click()
        check_keyboard(console)
        screens.take(console, "console-tenant")
        console.get_by_role("button", name="Suspend tenant").click()
        assert console.locator("#tenant-status").inner_text() == "suspended"
        console.get_by_role("link", name="Operations").click()
        assert "Projections" in console.content()
        check_keyboard(console)
        screens.take(console, "console-operations")

        page.reload()
        assert "This session has ended" in page.content()
        screens.take(page, "portal-session-ended")


def test_read_only_pages_work_with_javascript_off(
    browser: Any,
    api_server: ServerThread,
    admin: httpx.Client,
    tenant: TenantClient,
    screens: Screens,
) -> None:
    hook = tenant.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/off", "event_types": ["contact.created"]},
    ).json()
    assert tenant.post(f"/v1/webhooks/{hook['id']}/test").status_code == 202
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(portal_link(tenant.client)["url"])
        assert page.url.endswith("/portal/")
        assert "127.0.0.1:9/off" in page.content()
        page.get_by_role("link", name="http://127.0.0.1:9/off").click()
        assert "Health, last 24 hours" in page.content()
        page.get_by_role("link", name="Deliveries").click()
        reload_until(page, "main", "webhook.ping")
        # The filter form works as a plain GET form.
        page.get_by_label("State").select_option("delivered")
        page.get_by_role("button", name="Filter").click()
        assert "state=delivered" in page.url
        assert "No deliveries match these filters" in page.content()
        page.go_back()
        page.get_by_label("State").select_option("")
        page.get_by_role("button", name="Filter").click()
        page.locator("#deliveries tbody tr").first.get_by_role("link").click()
        assert "Request as sent" in page.content()
        screens.take(page, "nojs-portal-delivery")
        page.goto(f"{api_server.url}/portal/event-types")
        example = page.locator("details", has_text="Example payload of order.paid")
        assert not example.locator("pre").is_visible()
        example.locator("summary").click()  # <details> opens without a script
        assert '"type": "order.paid"' in example.locator("pre").inner_text()
        page.goto(admin_link(admin, "/admin/console-sessions")["url"])
        for path, text in (
            ("/console/", "Create a tenant"),
            (f"/console/tenants/{tenant.id}", "Credentials"),
            ("/console/operations", "Delivery backlog"),
        ):
            page.goto(f"{api_server.url}{path}")
            assert text in page.content(), path
        screens.take(page, "nojs-console-operations")
    finally:
        context.close()
