"""The operator console over HTTP: search, create, suspend and reactivate a tenant, revoke a
credential; names are shown escaped; every form needs its session's CSRF token."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx

from tests.conftest import ServerThread, TenantClient, provision
from tests.support.credentials import key_prefix
from tests.support.poll import eventually
from tests.support.portal import admin_link, opened


def answers(tenant: TenantClient, status: int) -> bool:
    """Whether the tenant's API key gets `status` (the API's credential cache hears a
    change within its documented 5 seconds)."""
    return bool(tenant.client.get("/v1/contacts").status_code == status)


def test_the_operator_manages_tenants_and_credentials_from_the_console(
    admin: httpx.Client, api_server: ServerThread
) -> None:
    marker = uuid4().hex[:10]
    hostile = provision(admin, f"<script>{marker}</script> Ltd")
    console = opened(api_server.url, admin_link(admin, "/admin/console-sessions"))
    token = console.csrf("/console/")

    found = console.get("/console/", params={"q": "<SCRIPT>" + marker})
    assert found.status_code == 200
    assert f"&lt;script&gt;{marker}&lt;/script&gt; Ltd" in found.text
    assert f"<script>{marker}" not in found.text
    assert f"/console/tenants/{hostile.id}" in found.text
    assert hostile.id not in console.get("/console/", params={"q": "zz" + marker}).text

    refused = console.post("/console/tenants", {"name": f"Initech {marker}"}, token=None)
    assert refused.status_code == 403
    made = console.post("/console/tenants", {"name": f"Initech {marker}"}, token=token)
    assert made.status_code == 200
    key = re.search(r'id="api-key"[^>]*value="(sk_[^"]+)"', made.text)
    assert key, made.text
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {key.group(1)}"}
    ) as new_tenant:
        assert new_tenant.get("/v1/contacts").status_code == 200

    tenant_page = f"/console/tenants/{hostile.id}"
    suspended = console.post(f"{tenant_page}/status", {"status": "suspended"}, token=token)
    assert suspended.status_code == 303
    eventually(lambda: answers(hostile, 401), "the suspended tenant's key is refused", 6)
    assert "Reactivate tenant" in console.get(tenant_page).text
    console.post(f"{tenant_page}/status", {"status": "active"}, token=token)
    eventually(lambda: answers(hostile, 200), "the reactivated tenant's key works", 6)

    prefix = key_prefix(hostile.api_key)
    eventually(lambda: prefix in console.get(tenant_page).text, "the key is listed", 20)
    credential_id = admin.get(f"/admin/credentials/{prefix}").json()["id"]
    other = provision(admin, f"Other {marker}")
    foreign = console.post(
        f"/console/tenants/{other.id}/credentials/{credential_id}/revoke", token=token
    )
    assert foreign.status_code == 404  # the credential is not that tenant's
    assert hostile.client.get("/v1/contacts").status_code == 200
    revoked = console.post(f"{tenant_page}/credentials/{credential_id}/revoke", token=token)
    assert revoked.status_code == 303
    eventually(lambda: answers(hostile, 401), "the revoked key is refused", 6)
    operations = console.get("/console/operations")
    assert operations.status_code == 200
    assert "Delivery backlog" in operations.text
    console.close()


def test_bad_console_input_is_a_4xx_page_that_changes_nothing(
    admin: httpx.Client, api_server: ServerThread
) -> None:
    tenant = provision(admin, "Umbrella")
    console = opened(api_server.url, admin_link(admin, "/admin/console-sessions"))
    token = console.csrf("/console/")
    unknown = uuid4()
    for path, form, status in (
        (f"/console/tenants/{unknown}/status", {"status": "suspended"}, 404),
        (f"/console/tenants/{tenant.id}/status", {"status": "paused"}, 422),
        (f"/console/tenants/{tenant.id}/credentials/{unknown}/revoke", {}, 404),
        (f"/console/tenants/{unknown}/portal", {}, 404),
        ("/console/tenants", {"name": "   "}, 422),
        ("/console/tenants", {"name": "x" * 201}, 422),
    ):
        answer = console.post(path, form, token=token)
        assert answer.status_code == status, (path, answer.text[:300])
        assert "text/html" in answer.headers["content-type"]
    assert console.get(f"/console/tenants/{unknown}").status_code == 404
    assert console.get("/console/", params={"q": "%_\\" * 100}).status_code == 200
    suspend = f"/console/tenants/{tenant.id}/status"
    assert console.post(suspend, {"status": "suspended"}, token=token).status_code == 303
    again = console.post(suspend, {"status": "suspended"}, token=token)
    assert again.status_code == 409
    assert admin.get(f"/admin/tenants/{tenant.id}").json()["status"] == "suspended"
    console.close()
