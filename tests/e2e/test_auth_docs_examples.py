"""docs/authentication.md's token request with form fields answers what the page shows, for
the client its `POST /admin/tenants` example provisions."""

from __future__ import annotations

import json
import re

import httpx

from tests.conftest import ROOT, provision

PAGE = (ROOT / "docs" / "authentication.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks_after(marker: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) after the first line holding `marker`."""
    return BLOCK.findall(PAGE[PAGE.index(marker) :])


def test_the_form_field_token_example_answers_what_the_page_shows(
    http: httpx.Client, admin: httpx.Client
) -> None:
    (_, provisioning), *_ = blocks_after("One call does it")
    sent = json.loads(re.search(r"-d '(\{.*\})'", provisioning).group(1))  # type: ignore[union-attr]
    (request_language, request), (answer_language, answer) = blocks_after("or form fields")[:2]
    assert (request_language, answer_language) == ("sh", "json")
    assert "client_id=" in request
    assert "client_secret=" in request
    assert "scope" not in request  # so the answer has every scope of the client
    shown = json.loads(answer)

    tenant = provision(admin, sent["name"], scopes=sent["scopes"])
    try:
        response = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
            },
        )
    finally:
        tenant.client.close()
    assert response.status_code == 200, response.text
    got = response.json()
    assert set(got) == set(shown)
    assert got["scope"] == shown["scope"]
    assert (got["token_type"], got["expires_in"]) == (shown["token_type"], shown["expires_in"])
