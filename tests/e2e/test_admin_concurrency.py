"""Concurrent operator calls on one tenant or credential: each gets an answer, never a 500."""

from __future__ import annotations

import threading

import httpx

from tests.conftest import TenantClient


def test_concurrent_suspends_answer_once_and_conflict_otherwise(
    admin: httpx.Client, tenant: TenantClient
) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def suspend() -> None:
        with httpx.Client(base_url=str(admin.base_url), headers=admin.headers, timeout=30) as c:
            barrier.wait()
            statuses.append(c.post(f"/admin/tenants/{tenant.id}/suspend").status_code)

    threads = [threading.Thread(target=suspend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 500 not in statuses
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}


def test_concurrent_revocations_are_idempotent(admin: httpx.Client, tenant: TenantClient) -> None:
    key_id = tenant.api_key.split("_")[1]
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def revoke() -> None:
        with httpx.Client(base_url=str(admin.base_url), headers=admin.headers, timeout=30) as c:
            barrier.wait()
            statuses.append(c.delete(f"/admin/api-keys/{key_id}").status_code)

    threads = [threading.Thread(target=revoke) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {204}, statuses
