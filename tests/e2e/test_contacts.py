"""Contacts over HTTP: create, read, update with preconditions, delete, list."""

from __future__ import annotations

from uuid import uuid4

from tests.conftest import TenantClient


def test_create_then_read_back_with_etag(tenant: TenantClient) -> None:
    created = tenant.post(
        "/v1/contacts",
        json={
            "email": "ada@example.com",
            "name": "Ada",
            "tags": ["vip"],
            "custom_fields": {"a": 1},
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "ada@example.com"
    assert body["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/v1/contacts/{body['id']}"

    fetched = tenant.get(f"/v1/contacts/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"1"'


def test_patch_changes_only_given_fields_and_honours_if_match(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "a@example.com", "phone": "1"}).json()
    updated = tenant.patch(
        f"/v1/contacts/{contact['id']}", json={"name": "Ann"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Ann"
    assert updated.json()["phone"] == "1"
    assert updated.json()["version"] == 2

    stale = tenant.patch(
        f"/v1/contacts/{contact['id']}", json={"name": "Bob"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert tenant.get(f"/v1/contacts/{contact['id']}").json()["name"] == "Ann"


def test_patch_with_no_real_change_keeps_the_version(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "same@example.com"}).json()
    again = tenant.patch(f"/v1/contacts/{contact['id']}", json={"email": "same@example.com"})
    assert again.status_code == 200
    assert again.json()["version"] == 1


def test_delete_hides_the_contact(tenant: TenantClient) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "gone@example.com"}).json()
    assert tenant.delete(f"/v1/contacts/{contact['id']}").status_code == 204
    assert tenant.get(f"/v1/contacts/{contact['id']}").status_code == 404
    assert tenant.delete(f"/v1/contacts/{contact['id']}").status_code == 404


def test_list_pages_through_every_contact_once(tenant: TenantClient, caught_up) -> None:
    ids = {
        tenant.post("/v1/contacts", json={"email": f"p{i}@example.com"}).json()["id"]
        for i in range(7)
    }
    caught_up()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/v1/contacts", params=params).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == ids


def test_updated_since_filters_the_list(tenant: TenantClient, caught_up) -> None:
    old = tenant.post("/v1/contacts", json={"email": "old@example.com"}).json()
    new = tenant.post("/v1/contacts", json={"email": "new@example.com"}).json()
    caught_up()
    page = tenant.get("/v1/contacts", params={"updated_since": new["updated_at"]}).json()
    ids = [c["id"] for c in page["data"]]
    assert new["id"] in ids
    assert old["id"] not in ids


def test_another_tenants_contact_is_not_found(
    tenant: TenantClient, other_tenant: TenantClient, caught_up
) -> None:
    theirs = other_tenant.post("/v1/contacts", json={"email": "x@globex.com"}).json()
    caught_up()
    assert tenant.get(f"/v1/contacts/{theirs['id']}").status_code == 404
    assert tenant.patch(f"/v1/contacts/{theirs['id']}", json={"name": "h"}).status_code == 404
    assert tenant.delete(f"/v1/contacts/{theirs['id']}").status_code == 404
    assert theirs["id"] not in [c["id"] for c in tenant.get("/v1/contacts").json()["data"]]
    assert other_tenant.get(f"/v1/contacts/{theirs['id']}").json()["name"] is None


def test_unknown_id_is_404(tenant: TenantClient) -> None:
    response = tenant.get(f"/v1/contacts/{uuid4()}")
    assert response.status_code == 404
    assert response.json()["status"] == 404
