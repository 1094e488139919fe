"""Portal and console sessions over HTTP: ask for a link, follow it, post forms with the
page's CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([0-9a-f]+)"')


def portal_link(client: httpx.Client) -> dict[str, Any]:
    """`POST /v1/portal-sessions` with `client`'s credential (or the admin's, for a tenant)."""
    response = client.post("/v1/portal-sessions")
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def admin_link(admin: httpx.Client, path: str) -> dict[str, Any]:
    response = admin.post(path)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


class BrowserClient:
    """An HTTP client holding a session cookie, as a browser would."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def follow(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        found = CSRF_INPUT.search(page.text)
        assert found, f"no CSRF field on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, token: str | None) -> Any:
        form = dict(data or {})
        if token is not None:
            form["_csrf_token"] = token
        return self.http.post(path, data=form)

    def close(self) -> None:
        self.http.close()


def opened(base_url: str, link: dict[str, Any]) -> BrowserClient:
    """A client whose session the link opened (asserting the exchange's answer)."""
    browser = BrowserClient(base_url)
    response = browser.follow(link["url"])
    assert response.status_code == 303, response.text
    return browser
