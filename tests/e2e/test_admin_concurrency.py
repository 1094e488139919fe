"""Concurrent operator calls on one tenant or credential: each gets an answer, never a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from tests.conftest import TenantClient


def concurrently(admin: httpx.Client, n: int, call: Callable[[httpx.Client], int]) -> list[int]:
    """Run `call` from `n` clients released at the same moment; answer the statuses."""
    statuses: list[int] = []
    barrier = threading.Barrier(n)

    def run() -> None:
        with httpx.Client(base_url=str(admin.base_url), headers=admin.headers, timeout=30) as c:
            barrier.wait()
            statuses.append(call(c))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_concurrent_suspends_answer_once_and_conflict_otherwise(
    admin: httpx.Client, tenant: TenantClient
) -> None:
    statuses = concurrently(
        admin, 8, lambda c: c.post(f"/admin/tenants/{tenant.id}/suspend").status_code
    )
    assert 500 not in statuses
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}


def test_concurrent_revocations_are_idempotent(admin: httpx.Client, tenant: TenantClient) -> None:
    key_id = tenant.api_key.split("_")[1]
    statuses = concurrently(admin, 6, lambda c: c.delete(f"/admin/api-keys/{key_id}").status_code)
    assert set(statuses) == {204}, statuses
