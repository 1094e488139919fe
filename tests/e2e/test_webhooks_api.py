"""The webhook subscription API over HTTP: lifecycle, secrets, catalog, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from standardwebhooks import Webhook

from api.app import create_app
from syncline.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, ServerThread, TenantClient, provision
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import contact, deliveries, subscribe

HOOK = "https://hooks.example/in"


def test_create_shows_the_secret_once_then_read_update_and_delete(
    hooks_tenant: TenantClient, caught_up: Any
) -> None:
    created = hooks_tenant.post(
        "/v1/webhooks",
        json={"url": HOOK, "event_types": ["order.*", "contact.created"], "description": "CRM"},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert created.headers["location"] == f"/v1/webhooks/{hook['id']}"
    assert hook["secret"].startswith("whsec_")
    Webhook(hook["secret"])  # a secret the reference library accepts
    assert hook["status"] == "active"
    assert hook["event_types"] == ["order.*", "contact.created"]

    fetched = hooks_tenant.get(f"/v1/webhooks/{hook['id']}").json()
    assert fetched == {k: v for k, v in hook.items() if k != "secret"}

    updated = hooks_tenant.patch(
        f"/v1/webhooks/{hook['id']}",
        json={"event_types": ["contact.*"], "description": None, "status": "disabled"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["event_types"] == ["contact.*"]
    assert updated.json()["status"] == "disabled"
    assert updated.json()["disabled_reason"] == "manual"
    again = hooks_tenant.patch(f"/v1/webhooks/{hook['id']}", json={"status": "active"}).json()
    assert again["status"] == "active"
    assert again["disabled_reason"] is None

    caught_up()
    listed = hooks_tenant.get("/v1/webhooks").json()
    assert [h["id"] for h in listed["data"]] == [hook["id"]]
    assert "secret" not in listed["data"][0]
    assert listed["data"][0]["event_types"] == ["contact.*"]
    assert listed["has_more"] is False
    assert listed["next_cursor"] is None

    assert hooks_tenant.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert hooks_tenant.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert hooks_tenant.delete(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_the_list_pages_through_every_webhook(hooks_tenant: TenantClient, caught_up: Any) -> None:
    ids = {subscribe(hooks_tenant, f"{HOOK}/{i}", ["order.paid"])["id"] for i in range(5)}
    caught_up()
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = hooks_tenant.get("/v1/webhooks", params=params).json()
        seen += [h["id"] for h in page["data"]]
        if not page["has_more"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(seen, key=seen.index)
    assert set(seen) == ids
    assert len(seen) == 5


def test_event_types_catalog_has_descriptions_and_data_schemas(tenant: TenantClient) -> None:
    response = tenant.get("/v1/event-types")
    assert response.status_code == 200
    body = response.json()
    names = [t["name"] for t in body["data"]]
    assert "order.paid" in names
    assert "webhook.disabled" in names
    assert "webhook.ping" in names
    assert body["has_more"] is False
    paid = next(t for t in body["data"] if t["name"] == "order.paid")
    assert paid["description"]
    order = paid["schema"]["$defs"]["Order"]
    assert {"id", "status", "total", "line_items"} <= set(order["properties"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK, "event_types": []}, "event_types"),
        ({"url": HOOK}, "event_types"),
        ({"url": HOOK, "event_types": ["order.shipped"]}, "event_types[0]"),
        ({"url": HOOK, "event_types": ["*"]}, "event_types[0]"),
        ({"url": "not a url", "event_types": ["order.*"]}, "url"),
        ({"url": "ftp://hooks.example/", "event_types": ["order.*"]}, "url"),
        ({"url": "https://", "event_types": ["order.*"]}, "url"),
        ({"url": "http://8.8.8.8/a\u0000b", "event_types": ["order.*"]}, "url"),
        ({"url": "http://8.8.8.8/a b", "event_types": ["order.*"]}, "url"),
        ({"url": HOOK + "/" + "x" * 2100, "event_types": ["order.*"]}, "url"),
        ({"url": HOOK, "event_types": ["order.*"], "description": "d" * 501}, "description"),
        ({"url": HOOK, "event_types": ["order.*"], "secret": "whsec_mine"}, "secret"),
        ({"url": HOOK, "event_types": "order.*"}, "event_types"),
    ],
)
def test_bad_subscriptions_are_422_and_nothing_is_created(
    hooks_tenant: TenantClient, caught_up: Any, body: dict[str, Any], field: str
) -> None:
    response = hooks_tenant.post("/v1/webhooks", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in problem["detail"]
    caught_up()
    assert hooks_tenant.get("/v1/webhooks").json()["data"] == []


def test_bad_updates_change_nothing(hooks_tenant: TenantClient) -> None:
    hook = subscribe(hooks_tenant, HOOK, ["order.*"])
    for body in (
        {"event_types": []},
        {"event_types": ["nope.created"]},
        {"url": "gopher://hooks.example/"},
        {"status": "paused"},
        {"secret": "whsec_x"},
    ):
        response = hooks_tenant.patch(f"/v1/webhooks/{hook['id']}", json=body)
        assert response.status_code in (400, 422), (body, response.text)
    current = hooks_tenant.get(f"/v1/webhooks/{hook['id']}").json()
    assert current["version"] == 1
    assert current["event_types"] == ["order.*"]


def test_replay_needs_a_cursor_of_this_tenant(
    hooks_tenant: TenantClient, other_tenant: TenantClient, runtime: Runtime
) -> None:
    hook = subscribe(hooks_tenant, HOOK, ["order.*"])
    foreign = runtime.cursors.encode("changes", UUID(other_tenant.id), [1])
    wrong_kind = runtime.cursors.encode("contacts", UUID(hooks_tenant.id), [1])
    for after in ("garbage", foreign, wrong_kind, foreign[:-2] + "AA", ""):
        response = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/replay", json={"after": after})
        assert response.status_code in (400, 422), (after, response.text)
        assert "after" in response.json()["detail"]
    mine = runtime.cursors.encode("changes", UUID(hooks_tenant.id), [0])
    ok = hooks_tenant.post(f"/v1/webhooks/{hook['id']}/replay", json={"after": mine})
    assert ok.status_code == 202


def test_another_tenants_webhook_is_not_found(
    hooks_tenant: TenantClient, other_tenant: TenantClient, runtime: Runtime
) -> None:
    theirs = subscribe(other_tenant, HOOK, ["order.*"])
    path = f"/v1/webhooks/{theirs['id']}"
    mine = runtime.cursors.encode("changes", UUID(hooks_tenant.id), [0])
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("DELETE", "", None),
        ("POST", "/rotate-secret", None),
        ("GET", "/deliveries", None),
        ("POST", "/replay", {"after": mine}),
        ("POST", "/test", None),
    ):
        response = hooks_tenant.request(method, path + suffix, json=body)
        assert response.status_code == 404, (method, suffix, response.text)
    assert hooks_tenant.get(f"/v1/webhooks/{uuid4()}").status_code == 404
    current = other_tenant.get(path).json()
    assert current["version"] == 1
    assert current["description"] is None
    other_tenant.delete(path)


def test_webhooks_need_the_webhooks_manage_scope(admin: httpx.Client) -> None:
    reader = provision(admin, "Reader", scopes=["records:read"])
    hooks_only = provision(admin, "Hooks", scopes=["webhooks:manage"])
    try:
        assert reader.get("/v1/webhooks").status_code == 403
        body = {"url": HOOK, "event_types": ["order.*"]}
        assert reader.post("/v1/webhooks", json=body).status_code == 403
        assert reader.get("/v1/event-types").status_code == 200
        assert hooks_only.get("/v1/webhooks").status_code == 200
        # The catalog is records:read, like the records it describes.
        assert hooks_only.get("/v1/event-types").status_code == 403
    finally:
        reader.client.close()
        hooks_only.client.close()


@pytest.fixture(scope="module")
def guarded_api(runtime: Runtime) -> Iterator[str]:
    """A second API process on the same database, with the SSRF guard on."""
    services = runtime.api_services()
    services.allow_private_webhooks = False
    with ServerThread(create_app(services)) as server:
        yield server.url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://100.64.0.1/",
    ],
)
def test_registration_refuses_private_targets(guarded_api: str, url: str) -> None:
    with httpx.Client(
        base_url=guarded_api, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as a:
        tenant = provision(a, "Guarded")
    try:
        response = tenant.post("/v1/webhooks", json={"url": url, "event_types": ["order.*"]})
        assert response.status_code == 422, response.text
        assert "must be public" in response.json()["detail"]
        ok = tenant.post(
            "/v1/webhooks", json={"url": "https://93.184.216.34/hook", "event_types": ["order.*"]}
        )
        assert ok.status_code == 201
        patched = tenant.patch(f"/v1/webhooks/{ok.json()['id']}", json={"url": url})
        assert patched.status_code == 422
    finally:
        tenant.client.close()


def test_the_delivery_list_pages_newest_first_once_each(
    hooks_tenant: TenantClient, receiver: Receiver
) -> None:
    hook = subscribe(hooks_tenant, receiver.url + "/paged", ["contact.created"])
    other = subscribe(hooks_tenant, receiver.url + "/other", ["contact.created"])
    for n in range(3):
        contact(hooks_tenant, f"paged-{n}@example.com")
    assert wait_until(lambda: len(deliveries(hooks_tenant, hook["id"])) == 3)
    everything = [d["id"] for d in deliveries(hooks_tenant, hook["id"])]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = hooks_tenant.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [d["id"] for d in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
        foreign = hooks_tenant.get(f"/v1/webhooks/{other['id']}/deliveries", params=params)
        assert foreign.status_code == 400
        assert "another webhook" in foreign.json()["detail"]
    assert seen == everything
    assert len(set(seen)) == 3
