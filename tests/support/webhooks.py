"""Webhook test kit: sender workers, subscriptions and delivery history over the API, and
the fixtures (a pytest plugin, loaded by tests/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from delivery.worker import DeliveryWorker
from domain.contact import Contact
from domain.context import Actor, Context
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.receiver import Receiver


class Workers:
    """Sender workers started by a test and stopped after it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.running: list[tuple[DeliveryWorker, threading.Thread]] = []

    def start(self, **options: Any) -> DeliveryWorker:
        options.setdefault("poll_interval", 0.2)
        options.setdefault("timeout", 5.0)
        worker = self.runtime.delivery_worker(**options)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.started.wait(10), "the delivery worker did not start"
        self.running.append((worker, thread))
        return worker

    def stop(self) -> None:
        for worker, _ in self.running:
            worker.stop()
        for _, thread in self.running:
            thread.join(timeout=15)
        self.running.clear()


@pytest.fixture
def workers(runtime: Runtime) -> Iterator[Workers]:
    started = Workers(runtime)
    yield started
    started.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def subscribe(
    tenant: TenantClient, url: str, event_types: list[str], **body: Any
) -> dict[str, Any]:
    response = tenant.post("/v1/webhooks", json={"url": url, "event_types": event_types, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def hooks_tenant(tenant: TenantClient, caught_up: Callable[[], None]) -> Iterator[TenantClient]:
    """The `tenant`, whose webhooks are deleted after the test so no later worker sends
    its leftover retries."""
    yield tenant
    caught_up()
    for hook in tenant.get("/v1/webhooks", params={"limit": 1000}).json().get("data", []):
        tenant.delete(f"/v1/webhooks/{hook['id']}")


def contact(tenant: TenantClient, email: str, **headers: str) -> dict[str, Any]:
    response = tenant.post("/v1/contacts", json={"email": email}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(tenant: TenantClient, hook_id: str) -> list[dict[str, Any]]:
    """The webhook's delivery history as the API lists it, newest first."""
    response = tenant.get(f"/v1/webhooks/{hook_id}/deliveries", params={"limit": 1000})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def settled_all(tenant: TenantClient, hook: dict[str, Any]) -> bool:
    return all(d["status"] == "delivered" for d in deliveries(tenant, hook["id"]))


def latest_status(tenant: TenantClient, hook_id: str) -> str | None:
    """The status of the webhook's latest delivery (None before one is enqueued)."""
    found = deliveries(tenant, hook_id)
    return str(found[0]["status"]) if found else None


def attempt_count(tenant: TenantClient, hook_id: str) -> int:
    """Attempts recorded for the webhook's latest delivery (0 before it is settled)."""
    found = deliveries(tenant, hook_id)
    return int(found[0]["attempt_count"]) if found else 0


def pending(runtime: Runtime, hook_id: str) -> int:
    """Deliveries queued for the webhook and not yet settled."""
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM webhook_pending WHERE subscription_id = %s", (hook_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def store_contacts(runtime: Runtime, tenant_id: str, n: int, *, updates: int = 0) -> None:
    """Save `n` contacts of the tenant straight to the event store, each then updated
    `updates` times (one `contact.created` and `updates` `contact.updated` events each),
    a hundred contacts to a save."""
    ctx = Context(UUID(tenant_id), Actor("api_key", "webhook-test"), "webhook-test")
    contacts = [Contact.create(ctx, {"email": f"c{i}@example.com"}, id=uuid4()) for i in range(n)]
    for c in contacts:
        for k in range(updates):
            c.update(ctx, {"name": f"version {k + 2}"})
    for start in range(0, n, 100):
        runtime.app.save(*contacts[start : start + 100])
