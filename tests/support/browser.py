"""A headless Chromium for page tests: Debian's `chromium`, driven by Playwright.

Playwright cannot download its own browsers here, so it drives the system's build through
`executable_path`. `.ci/run` installs `chromium` with apt-get when it is missing; outside CI
a machine without it skips the page tests (with the reason) rather than failing them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

# Without the background-networking flags Chromium reaches for Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))),
        None,
    )


# Module scope: Playwright's sync API runs an event loop on the thread while it is open,
# and later tests that call asyncio.run() must not find one.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class OfflinePage:
    """A page that may load only from 127.0.0.1; every other request is refused and kept."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.refused: list[str] = []
        self.page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or url.startswith("data:"):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline_page(browser: Any) -> Iterator[OfflinePage]:
    page = OfflinePage(browser)
    try:
        yield page
    finally:
        page.close()
