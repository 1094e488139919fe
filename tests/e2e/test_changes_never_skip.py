"""The changes feed never skips: pollers see every record's final state while writers race."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import TenantClient
from tests.support.poll import wait_until

WRITERS = 4
WRITE_SECONDS = 3.0


@dataclass
class Final:
    """What the writers last did to each record: its version, tombstone, representation."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def saw(self, resource: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.records[body["id"]] = {
                "resource_type": resource,
                "version": body["version"],
                "deleted": False,
                "data": body,
            }

    def deleted(self, record_id: str) -> None:
        with self.lock:
            record = self.records[record_id]
            record.update(version=record["version"] + 1, deleted=True, data=None)


def write(client: httpx.Client, final: Final, seed: int, until: float) -> None:
    """Creates, updates, transitions and deletes of this writer's own records."""
    rng = random.Random(seed)
    contacts: list[str] = []
    orders: list[tuple[str, str]] = []  # (id, status)
    n = 0
    while time.monotonic() < until:
        n += 1
        roll = rng.random()
        if roll < 0.3 or not contacts:
            body = client.post("/v1/contacts", json={"email": f"w{seed}-{n}@example.com"})
            assert body.status_code == 201, body.text
            final.saw("contact", body.json())
            contacts.append(body.json()["id"])
        elif roll < 0.5:
            response = client.patch(f"/v1/contacts/{rng.choice(contacts)}", json={"name": f"n{n}"})
            assert response.status_code == 200, response.text
            final.saw("contact", response.json())
        elif roll < 0.6 and len(contacts) > 1:
            victim = contacts.pop(rng.randrange(len(contacts)))
            assert client.delete(f"/v1/contacts/{victim}").status_code == 204
            final.deleted(victim)
        elif roll < 0.75:
            response = client.post(
                "/v1/orders",
                json={
                    "contact_id": rng.choice(contacts),
                    "currency": "EUR",
                    "line_items": [{"sku": "A", "quantity": 1, "unit_price": 100 + n}],
                },
            )
            assert response.status_code == 201, response.text
            final.saw("order", response.json())
            orders.append((response.json()["id"], "draft"))
        elif orders:
            i = rng.randrange(len(orders))
            order_id, status = orders[i]
            verb = {"draft": "place", "placed": "pay", "paid": "cancel"}.get(status)
            if verb is None or (status == "draft" and rng.random() < 0.3):
                if status in ("draft", "cancelled"):
                    assert client.delete(f"/v1/orders/{order_id}").status_code == 204
                    final.deleted(order_id)
                    orders.pop(i)
                continue
            response = client.post(f"/v1/orders/{order_id}/{verb}")
            assert response.status_code == 200, response.text
            final.saw("order", response.json())
            orders[i] = (order_id, response.json()["status"])


class Poller(threading.Thread):
    """Follows next_cursor with small pages and long-polls, remembering the latest of each."""

    def __init__(self, base_url: str, api_key: str, **params: Any) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {api_key}"}
        )
        self.params = params
        self.latest: dict[str, dict[str, Any]] = {}
        self.backwards: list[tuple[str, int, int]] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        cursor = None
        try:
            while not self.done.is_set():
                query = {"limit": 7, "wait": 0.5, **self.params}
                if cursor:
                    query["cursor"] = cursor
                response = self.client.get("/v1/changes", params=query)
                if response.status_code != 200:
                    self.errors.append(response.text)
                    return
                page = response.json()
                for change in page["data"]:
                    seen = self.latest.get(change["id"])
                    if seen is not None and seen["version"] >= change["version"]:
                        self.backwards.append((change["id"], seen["version"], change["version"]))
                    self.latest[change["id"]] = change
                cursor = page["next_cursor"]
        finally:
            self.client.close()

    def has_seen(self, expected: dict[str, dict[str, Any]]) -> bool:
        return all(
            self.latest.get(i, {}).get("version") == r["version"] for i, r in expected.items()
        )


def test_pollers_see_every_final_state_while_writers_commit_concurrently(
    tenant: TenantClient,
) -> None:
    base_url = str(tenant.base_url)
    everything = Poller(base_url, tenant.api_key)
    orders_only = Poller(base_url, tenant.api_key, resource_types="order")
    everything.start()
    orders_only.start()

    final = Final()
    until = time.monotonic() + WRITE_SECONDS
    clients = [
        httpx.Client(
            base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {tenant.api_key}"}
        )
        for _ in range(WRITERS)
    ]
    writers = [
        threading.Thread(target=write, args=(clients[i], final, i, until)) for i in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    for client in clients:
        client.close()

    orders = {i: r for i, r in final.records.items() if r["resource_type"] == "order"}
    # The readers' own assertions below say what is missing if this times out.
    wait_until(lambda: everything.has_seen(final.records) and orders_only.has_seen(orders), 30)
    everything.done.set()
    orders_only.done.set()
    everything.join(timeout=10)
    orders_only.join(timeout=10)

    assert not everything.errors
    assert not orders_only.errors
    assert len(final.records) > 50, "the writers did too little to prove anything"
    assert any(r["deleted"] for r in final.records.values()), "no tombstone was exercised"
    for record_id, expected in final.records.items():
        seen = everything.latest.get(record_id)
        assert seen is not None, f"{record_id} was never seen"
        assert (seen["version"], seen["deleted"]) == (expected["version"], expected["deleted"])
        assert seen["data"] == expected["data"]
        assert seen["resource_type"] == expected["resource_type"]
    assert set(orders_only.latest) == set(orders)
    assert all(c["resource_type"] == "order" for c in orders_only.latest.values())
    # Compaction may hide intermediate versions, but a record never goes back in time.
    assert everything.backwards == []
    assert orders_only.backwards == []
