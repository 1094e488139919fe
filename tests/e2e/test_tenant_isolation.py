"""Tenant isolation, property-based: a credential of one tenant never reads or changes
another tenant's records, events, webhooks or deliveries, and never uses its cursors.

What it covers: every `/v1` operation whose path names a resource of a kind in OWNED
(contacts, orders, webhooks, events; read from the app's route table, so routes added later
under those groups are probed automatically), cross-tenant references in bodies
(`contact_id`), Idempotency-Key reuse across tenants, and every listing in LISTINGS (its
pages and its cursors: lists, the changes feed, the event log). To cover a new kind, add
an OwnedKind (how the owner makes one, its path group, valid bodies) and its listings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from domain.envelope import event_id
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.credentials import bearer, fetch_token

PARAMETER = re.compile(r"\{(\w+):(\w+)\}")


@dataclass(frozen=True)
class OwnedKind:
    """A kind of tenant-owned resource, how to make one, and valid bodies for its routes."""

    group: str  # the path segment after /v1
    create: Callable[[httpx.Client, dict[str, Any], str], dict[str, Any]]  # (client, refs, who)
    bodies: dict[tuple[str, str], Any] = field(default_factory=dict)  # (method, path) → JSON


def _create_contact(client: httpx.Client, _: dict[str, Any], who: str) -> dict[str, Any]:
    response = client.post("/v1/contacts", json={"email": f"{who}@example.com", "name": who})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _create_order(client: httpx.Client, world: dict[str, Any], _: str) -> dict[str, Any]:
    response = client.post(
        "/v1/orders",
        json={
            "contact_id": world["contacts"]["id"],
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 1, "unit_price": 100}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _create_webhook(client: httpx.Client, _: dict[str, Any], who: str) -> dict[str, Any]:
    response = client.post(
        "/v1/webhooks",
        json={"url": f"http://127.0.0.1:9/{who}", "event_types": ["contact.created"]},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _first_event_of_contact(_: httpx.Client, world: dict[str, Any], __: str) -> dict[str, Any]:
    # Event ids are derived from (record id, version): the contact's creation event.
    return {"id": event_id(UUID(world["contacts"]["id"]), 1)}


OWNED = [
    OwnedKind(
        "contacts",
        _create_contact,
        {("PATCH", "/v1/contacts/{contact_id:uuid}"): {"name": "Intruder"}},
    ),
    OwnedKind(
        "orders",
        _create_order,
        {("PATCH", "/v1/orders/{order_id:uuid}"): {"currency": "USD"}},
    ),
    OwnedKind(
        "webhooks",
        _create_webhook,
        {
            ("PATCH", "/v1/webhooks/{webhook_id:uuid}"): {"description": "Intruder"},
            ("POST", "/v1/webhooks/{webhook_id:uuid}/replay"): {"after": "anything"},
        },
    ),
    OwnedKind("events", _first_event_of_contact),
]
LISTINGS = ["/v1/contacts", "/v1/orders", "/v1/webhooks", "/v1/changes", "/v1/events"]
CURSOR_PARAMETER = {"/v1/events": "after"}  # the others take `cursor`


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # Litestar template with one record parameter
    group: str
    body: Any


def probes(runtime: Runtime) -> list[Probe]:
    """Every /v1 operation naming one record of an OWNED kind."""
    kinds = {kind.group: kind for kind in OWNED}
    found = []
    for route in create_app(runtime.api_services()).routes:
        parts = route.path.split("/")
        if len(parts) < 4 or parts[1] != "v1" or parts[2] not in kinds:
            continue
        if len(PARAMETER.findall(route.path)) != 1:
            continue
        kind = kinds[parts[2]]
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                body = kind.bodies.get((method, route.path))
                found.append(Probe(method, route.path, kind.group, body))
    return found


@pytest.fixture(scope="module")
def record_probes(runtime: Runtime) -> list[Probe]:
    found = probes(runtime)
    assert {p.group for p in found} == {kind.group for kind in OWNED}
    assert len(found) >= 18  # get/patch/delete, transitions, webhook actions, event by id
    return found


@pytest.fixture
def world(tenant: TenantClient, other_tenant: TenantClient, caught_up) -> dict[str, Any]:
    """The owner (`tenant`) holds one record of each kind plus a second of each, so every
    listing has a next page; the intruder (`other_tenant`) holds records of its own."""
    owner: dict[str, Any] = {}
    for kind in OWNED:
        owner[kind.group] = kind.create(tenant.client, owner, "owner")
        kind.create(tenant.client, owner, "owner")
    intruder: dict[str, Any] = {}
    for kind in OWNED:
        intruder[kind.group] = kind.create(other_tenant.client, intruder, "intruder")
    caught_up()
    cursors = {}
    for listing in LISTINGS:
        page = tenant.get(listing, params={"limit": 1}).json()
        assert page["has_more"], listing
        cursors[listing] = page["next_cursor"]
    return {"owner": owner, "intruder": intruder, "cursors": cursors}


@pytest.fixture
def intruders(http: httpx.Client, other_tenant: TenantClient) -> Iterator[list[httpx.Client]]:
    """The other tenant's API key, and an access token of its OAuth client."""
    token = fetch_token(http, other_tenant.client_id, other_tenant.client_secret)
    clients = [other_tenant.client, bearer(str(http.base_url), token)]
    yield clients
    clients[1].close()


def owner_ids(world: dict[str, Any]) -> list[str]:
    return [record["id"] for record in world["owner"].values()]


def assert_reveals_nothing(
    response: httpx.Response, world: dict[str, Any], named: str | None = None
) -> None:
    """No owner data, and no owner id but the one the request itself named."""
    for record_id in owner_ids(world):
        if record_id != named:
            assert record_id not in response.text, response.text
    assert "owner@example.com" not in response.text


@given(data=st.data())
@settings(max_examples=30)
def test_no_request_reaches_another_tenants_record(
    record_probes: list[Probe],
    tenant: TenantClient,
    world: dict[str, Any],
    intruders: list[httpx.Client],
    data: st.DataObject,
) -> None:
    probe = data.draw(st.sampled_from(record_probes), label="probe")
    intruder = data.draw(st.sampled_from(intruders), label="credential")
    target = world["owner"][probe.group]
    before = tenant.get(f"/v1/{probe.group}/{target['id']}").json()

    url = PARAMETER.sub(target["id"], probe.path)
    response = intruder.request(probe.method, url, json=probe.body)
    assert response.status_code == 404, (probe, response.text)
    assert_reveals_nothing(response, world, named=target["id"])
    assert tenant.get(f"/v1/{probe.group}/{target['id']}").json() == before


@given(data=st.data())
@settings(max_examples=20)
def test_lists_and_cursors_stay_within_their_tenant(
    world: dict[str, Any], intruders: list[httpx.Client], data: st.DataObject
) -> None:
    listing = data.draw(st.sampled_from(LISTINGS), label="listing")
    intruder = data.draw(st.sampled_from(intruders), label="credential")
    limit = data.draw(st.integers(1, 1000), label="limit")
    page = intruder.get(listing, params={"limit": limit})
    assert page.status_code == 200
    assert_reveals_nothing(page, world)

    foreign_cursor = world["cursors"][data.draw(st.sampled_from(LISTINGS), label="cursor of")]
    parameter = CURSOR_PARAMETER.get(listing, "cursor")
    response = intruder.get(listing, params={parameter: foreign_cursor})
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert_reveals_nothing(response, world)


def test_bodies_cannot_reference_another_tenants_records(
    tenant: TenantClient, world: dict[str, Any], intruders: list[httpx.Client]
) -> None:
    theirs = world["owner"]["contacts"]["id"]
    own_order = world["intruder"]["orders"]["id"]
    for intruder in intruders:
        created = intruder.post("/v1/orders", json={"contact_id": theirs, "currency": "EUR"})
        assert created.status_code == 422
        moved = intruder.patch(f"/v1/orders/{own_order}", json={"contact_id": theirs})
        assert moved.status_code == 422
        assert_reveals_nothing(created, world, named=theirs)


def test_an_idempotency_key_is_per_tenant(tenant: TenantClient, other_tenant: TenantClient) -> None:
    body = {"email": "same@example.com"}
    headers = {"Idempotency-Key": "shared-key-1"}
    first = tenant.post("/v1/contacts", json=body, headers=headers)
    second = other_tenant.post("/v1/contacts", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert tenant.get(f"/v1/contacts/{second.json()['id']}").status_code == 404
