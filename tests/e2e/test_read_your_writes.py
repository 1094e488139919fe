"""Read your writes: every read the API serves (but the two logs) sees the write that
returned before it, against `syncline serve --workers 2` with a worker running, a hundred
times in a row; and a records list while the worker catches up a backlog of 20,000 events.

Each check is a write, then at once (no wait, no retry) the read: a miss is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from domain.contact import Contact
from domain.context import Actor, Context
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import TenantClient, provision
from tests.support.databases import own_database
from tests.support.deployment import Deployment, deployment

TIMES = 100
BACKLOG = 20_000


@pytest.fixture(scope="module")
def module_database(server_url: str) -> Iterator[str]:
    """A database of this module's own: the tenant lists stay short to page through."""
    with own_database(server_url, "syncline_ryw") as url:
        yield url


@pytest.fixture(scope="module")
def running(module_database: str) -> Iterator[Deployment]:
    with deployment(module_database, api_workers=2) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def admin(running: Deployment) -> Iterator[httpx.Client]:
    with running.admin() as client:
        yield client


@pytest.fixture
def tenant(admin: httpx.Client) -> Iterator[TenantClient]:
    tenant = provision(admin, "Reader")
    with tenant.client:
        yield tenant


def every_page(get: Callable[[dict[str, Any]], httpx.Response]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = get({"limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        if not page["has_more"]:
            return items
        cursor = page["next_cursor"]


def misses(check: Callable[[int], bool]) -> list[int]:
    """The tries (of TIMES in a row) whose read missed the write."""
    return [i for i in range(TIMES) if not check(i)]


def test_a_created_contact_is_listed_at_once(tenant: TenantClient) -> None:
    def check(i: int) -> bool:
        created = tenant.post("/v1/contacts", json={"email": f"l{i}@example.com"})
        assert created.status_code == 201, created.text
        listed = tenant.get("/v1/contacts", params={"limit": 1000}).json()["data"]
        return created.json()["id"] in {c["id"] for c in listed}

    assert misses(check) == []


def test_a_changed_order_is_listed_as_changed_at_once(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "buyer@example.com"}).json()

    def check(i: int) -> bool:
        order = tenant.post(
            "/v1/orders",
            json={
                "contact_id": contact["id"],
                "currency": "EUR",
                "line_items": [{"sku": "S", "quantity": 1, "unit_price": 10}],
            },
        ).json()
        placed = tenant.post(f"/v1/orders/{order['id']}/place")
        assert placed.status_code == 200, placed.text
        since = placed.json()["updated_at"]
        listed = tenant.get("/v1/orders", params={"updated_since": since}).json()["data"]
        return (order["id"], "placed") in {(o["id"], o["status"]) for o in listed}

    assert misses(check) == []


def test_a_change_is_in_the_history_and_at_its_version_at_once(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "h@example.com"}).json()
    path = f"/v1/contacts/{contact['id']}"

    def check(i: int) -> bool:
        changed = tenant.patch(path, json={"name": f"N{i}"})
        assert changed.status_code == 200, changed.text
        version = changed.json()["version"]
        history = every_page(lambda p: tenant.get(f"{path}/history", params=p))
        then = tenant.get(path, params={"version": version})
        return (
            history[-1]["entity"]["version"] == version
            and then.status_code == 200
            and then.json()["name"] == f"N{i}"
        )

    assert misses(check) == []


def test_a_created_or_suspended_tenant_is_listed_at_once(admin: httpx.Client) -> None:
    def check(i: int) -> bool:
        created = admin.post("/admin/tenants", json={"name": f"T{i}"})
        assert created.status_code == 201, created.text
        tenant_id = created.json()["tenant"]["id"]
        listed = {t["id"]: t for t in every_page(lambda p: admin.get("/admin/tenants", params=p))}
        if tenant_id not in listed:
            return False
        if i % 10:
            return True
        assert admin.post(f"/admin/tenants/{tenant_id}/suspend").status_code == 200
        listed = {t["id"]: t for t in every_page(lambda p: admin.get("/admin/tenants", params=p))}
        return listed[tenant_id]["status"] == "suspended"

    assert misses(check) == []


def test_an_issued_or_revoked_credential_is_listed_at_once(
    admin: httpx.Client, tenant: TenantClient
) -> None:
    path = f"/admin/tenants/{tenant.id}/credentials"

    def check(i: int) -> bool:
        issued = admin.post(
            f"/admin/tenants/{tenant.id}/api-keys", json={"scopes": ["records:read"]}
        )
        assert issued.status_code == 201, issued.text
        key_id = issued.json()["id"]
        listed = {c["id"]: c for c in every_page(lambda p: admin.get(path, params=p))}
        if listed.get(key_id, {}).get("status") != "active":
            return False
        assert admin.delete(f"/admin/api-keys/{key_id}").status_code == 204
        listed = {c["id"]: c for c in every_page(lambda p: admin.get(path, params=p))}
        return listed[key_id]["status"] == "revoked"

    assert misses(check) == []


def test_a_created_changed_or_deleted_webhook_is_listed_as_such_at_once(
    tenant: TenantClient,
) -> None:
    def listed() -> dict[str, dict[str, Any]]:
        return {w["id"]: w for w in every_page(lambda p: tenant.get("/v1/webhooks", params=p))}

    def check(i: int) -> bool:
        created = tenant.post(
            "/v1/webhooks",
            json={"url": f"http://127.0.0.1:9/hook{i}", "event_types": ["contact.*"]},
        )
        assert created.status_code == 201, created.text
        hook = created.json()["id"]
        if listed().get(hook, {}).get("status") != "active":
            return False
        deliveries = tenant.get(f"/v1/webhooks/{hook}/deliveries")
        if deliveries.status_code != 200 or deliveries.json()["data"] != []:
            return False
        if i % 3 == 1:
            changed = tenant.patch(f"/v1/webhooks/{hook}", json={"status": "disabled"})
            assert changed.status_code == 200, changed.text
            return listed()[hook]["status"] == "disabled"
        if i % 3 == 2:
            assert tenant.delete(f"/v1/webhooks/{hook}").status_code == 204
            return hook not in listed()
        return True

    assert misses(check) == []


def positions(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return dict(conn.execute("SELECT name, position FROM projection_tracking").fetchall())


@pytest.mark.slow
def test_a_created_contact_is_listed_at_once_while_the_worker_catches_up(
    running: Deployment, tenant: TenantClient
) -> None:
    """The worker stops; 20,000 events are appended; it starts again, and while it works
    through them the hundred creates are each listed at once."""
    running.stop("worker")
    runtime = Runtime.open(Settings(database_url=running.database_url), pool_size=2)
    try:
        ctx = Context(uuid4(), Actor("system", "backlog"), "backlog")
        for start in range(0, BACKLOG, 500):
            runtime.app.save(
                *(
                    Contact.create(ctx, {"email": f"b{start + i}@example.com"}, id=uuid4())
                    for i in range(500)
                )
            )
        head = runtime.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    finally:
        runtime.close()
    running.start("worker", "worker")

    def check(i: int) -> bool:
        created = tenant.post("/v1/contacts", json={"email": f"c{i}@example.com"})
        assert created.status_code == 201, created.text
        listed = tenant.get("/v1/contacts", params={"limit": 1000}).json()["data"]
        return created.json()["id"] in {c["id"] for c in listed}

    assert misses(check) == []
    behind = {name: p for name, p in positions(running.database_url).items() if p < head}
    assert behind, "the worker had caught up before the checks ended: nothing was tested"
