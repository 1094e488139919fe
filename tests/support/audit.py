"""Audit test kit: an auditor's client, some history, and a checkpoint made now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx

from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.credentials import bearer, issue_api_key


def auditor(admin: httpx.Client, tenant: TenantClient) -> httpx.Client:
    return bearer(str(admin.base_url), issue_api_key(admin, tenant.id, ["events:read"]))


def make_history(tenant: TenantClient, count: int) -> None:
    for i in range(count):
        created = tenant.post("/v1/contacts", json={"email": f"c{i}@example.com", "name": "C"})
        assert created.status_code == 201, created.text


def checkpoint(
    runtime: Runtime, tenant: TenantClient, caught_up: Callable[[], None]
) -> list[dict[str, Any]]:
    caught_up()
    made = runtime.checkpointer().checkpoint(UUID(tenant.id))
    caught_up()
    return made
