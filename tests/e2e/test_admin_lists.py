"""The operator's tenant list pages through every tenant once, oldest first."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import provision


def test_the_tenant_list_pages_through_every_tenant_once(admin: httpx.Client, caught_up) -> None:
    made = [provision(admin, f"Paged {n}") for n in range(3)]
    for tenant in made:
        tenant.client.close()
    caught_up()
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = admin.get("/admin/tenants", params=params).json()
        assert len(page["data"]) <= 2
        seen += page["data"]
        assert page["has_more"] == (page["next_cursor"] is not None)
        if not page["has_more"]:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    ids = [t["id"] for t in seen]
    assert len(ids) == len(set(ids))
    assert {t.id for t in made} <= set(ids)
    keys = [(t["created_at"], t["id"]) for t in seen]
    assert keys == sorted(keys)
    # A cursor this API did not issue is a 400.
    foreign = admin.get("/admin/tenants", params={"cursor": "not-a-cursor"})
    assert foreign.status_code == 400
