"""Revocation, rotation and suspension with two API processes (`syncline serve --workers 2`):
no request that starts after the operator's call returned is accepted, on either process,
and a reactivated tenant is served again from the next request on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from syncline.runtime import Runtime
from tests.conftest import free_port, provision
from tests.support.credentials import (
    admin_of,
    create_oauth_client,
    fetch_token,
    issue_api_key,
    key_prefix,
)
from tests.support.dev_process import serve
from tests.support.poll import wait_until

REQUESTS = 50
LIVE_LISTENERS = """
SELECT count(*) FROM auth_listeners l
JOIN pg_stat_activity a ON a.pid = l.pid AND a.backend_start = l.backend_start
"""


def live_listeners(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(LIVE_LISTENERS).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def served(
    database_url: str, runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Two API processes behind one port, both listening for credential changes (on the
    session's database, which `runtime` has migrated)."""
    before = live_listeners(database_url)
    with serve(database_url, tmp_path_factory.mktemp("serve"), free_port(), workers=2) as url:
        # uvicorn restarts a worker that misses its health check (a loaded machine): wait
        # for both to be up at once.
        assert wait_until(lambda: live_listeners(database_url) >= before + 2, timeout=120), (
            "the two API processes did not both register their listening sessions"
        )
        yield url


def statuses(url: str, token: str, count: int = REQUESTS) -> list[int]:
    """`count` reads, 8 at a time, each on a connection of its own (so the kernel spreads
    them over both processes)."""

    def one(_: int) -> int:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            return c.get("/v1/contacts").status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def cached_everywhere(url: str, token: str) -> None:
    """Served (and so cached) by both processes, most likely several times each."""
    assert statuses(url, token, 40) == [200] * 40


def check_refused_at_once(url: str, token: str, change: Callable[[httpx.Client], None]) -> None:
    cached_everywhere(url, token)
    with admin_of(url) as admin:
        change(admin)
    assert statuses(url, token) == [401] * REQUESTS


def test_a_revoked_api_key_is_refused_by_every_process_at_once(served: str) -> None:
    with admin_of(served) as admin:
        tenant = provision(admin, "Revoked key")
        key = issue_api_key(admin, tenant.id, ["records:read"])
    check_refused_at_once(
        served,
        key,
        lambda admin: admin.delete(f"/admin/api-keys/{key_prefix(key)}").raise_for_status(),
    )
    tenant.client.close()


def test_a_revoked_oauth_clients_tokens_are_refused_at_once(served: str) -> None:
    with admin_of(served) as admin, httpx.Client(base_url=served) as anonymous:
        tenant = provision(admin, "Revoked client")
        client_id, secret = create_oauth_client(admin, tenant.id, ["records:read"])
        token = fetch_token(anonymous, client_id, secret)
    check_refused_at_once(
        served,
        token,
        lambda admin: admin.delete(f"/admin/oauth-clients/{client_id}").raise_for_status(),
    )
    tenant.client.close()


def test_a_rotation_refuses_the_old_secrets_tokens_at_once(served: str) -> None:
    with admin_of(served) as admin, httpx.Client(base_url=served) as anonymous:
        tenant = provision(admin, "Rotated client")
        client_id, secret = create_oauth_client(admin, tenant.id, ["records:read"])
        token = fetch_token(anonymous, client_id, secret)
    check_refused_at_once(
        served,
        token,
        lambda admin: admin.post(f"/admin/oauth-clients/{client_id}/rotate").raise_for_status(),
    )
    tenant.client.close()


def test_suspension_refuses_at_once_and_reactivation_serves_at_once(served: str) -> None:
    with admin_of(served) as admin:
        tenant = provision(admin, "Suspended")
    check_refused_at_once(
        served,
        tenant.api_key,
        lambda admin: admin.post(f"/admin/tenants/{tenant.id}/suspend").raise_for_status(),
    )
    with admin_of(served) as admin:
        admin.post(f"/admin/tenants/{tenant.id}/reactivate").raise_for_status()
    assert statuses(served, tenant.api_key) == [200] * REQUESTS
    tenant.client.close()
