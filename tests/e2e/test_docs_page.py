"""`/schema` renders the API reference in a real browser with no internet."""

from __future__ import annotations

from tests.conftest import ServerThread
from tests.support.browser import OfflinePage, browser, offline_page

__all__ = ["browser", "offline_page"]  # fixtures


def test_schema_page_renders_every_operation_without_leaving_the_machine(
    api_server: ServerThread, offline_page: OfflinePage, tmp_path_factory
) -> None:
    page = offline_page.page
    response = page.goto(f"{api_server.url}/schema", wait_until="networkidle")
    assert response is not None
    assert response.status == 200
    page.wait_for_selector(".opblock", timeout=20_000)
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    paths = {text.replace("\u200b", "").strip() for text in summaries}
    assert {"/v1/contacts", "/v1/changes", "/v1/webhooks", "/oauth/token"} <= paths
    assert page.locator(".info .title").inner_text().startswith("Syncline API")
    assert offline_page.refused == [], "the docs page reached outside the machine"
    page.screenshot(path=str(tmp_path_factory.mktemp("screens") / "schema.png"), full_page=False)
