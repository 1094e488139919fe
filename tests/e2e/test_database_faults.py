"""Database unavailability is a 503 problem with Retry-After, never a 500, and the API
recovers by itself: backends are terminated with pg_terminate_backend, as an operator or a
failover would."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from api.app import create_app
from api.rate_limit import RateLimiter
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import ServerThread, TenantClient

# How long `pg_terminate_backend` waits for each backend to have exited (and so to have
# told its client), in milliseconds. A request racing the termination itself may find its
# connection still quiet and fail with a 503; these tests are about the requests after it.
EXIT_WAIT_MS = 5000


def terminate_backends(server_url: str, application_name: str) -> int:
    """Terminate every backend connected as `application_name` and wait until each has
    exited; answer how many."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (EXIT_WAIT_MS, application_name),
        ).fetchall()
    assert all(exited for (exited,) in rows), rows
    return len(rows)


def named(url: str) -> tuple[str, str]:
    name = f"syncline_fault_{secrets.token_hex(4)}"
    return make_conninfo(url, application_name=name), name


def bearer(tenant: TenantClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


def test_a_terminated_backend_under_the_rate_limiter_is_a_503_with_retry_after(
    runtime: Runtime, server_url: str, database_url: str, tenant: TenantClient
) -> None:
    # A pool without a connection check hands the dead session to the rate limiter, whose
    # statement fails with AdminShutdown: the worst case the API must still answer well.
    url, name = named(database_url)
    with ConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        services = runtime.api_services()
        services.rate_limiter = RateLimiter(pool, 1_000_000.0, 1_000_000, lease_max=1)
        with (
            ServerThread(create_app(services)) as server,
            httpx.Client(base_url=server.url, headers=bearer(tenant), timeout=30) as client,
        ):
            assert client.get("/v1/contacts").status_code == 200
            assert terminate_backends(server_url, name) == 1
            failed = client.get("/v1/contacts")
            assert failed.status_code == 503, failed.text
            assert failed.headers["retry-after"] == "1"
            assert failed.headers["content-type"].startswith("application/problem+json")
            problem = failed.json()
            assert problem["type"].endswith("/database-unavailable")
            assert problem["correlation_id"] == failed.headers["x-request-id"]
            # The pool dropped the broken connection: the next request succeeds.
            assert client.get("/v1/contacts").status_code == 200


@pytest.fixture
def own_runtime(test_settings: Settings) -> Iterator[tuple[Runtime, str]]:
    """An API process's Runtime whose pool connects under an application name of its own."""
    assert test_settings.database_url is not None
    url, name = named(test_settings.database_url)
    rt = Runtime.open(dataclasses.replace(test_settings, database_url=url))
    yield rt, name
    rt.close()


def test_after_its_backends_are_terminated_the_next_request_succeeds(
    own_runtime: tuple[Runtime, str], server_url: str, tenant: TenantClient
) -> None:
    rt, name = own_runtime
    with (
        ServerThread(create_app(rt.api_services())) as server,
        httpx.Client(base_url=server.url, headers=bearer(tenant), timeout=30) as client,
    ):
        created = client.post("/v1/contacts", json={"email": "fault@example.com"})
        assert created.status_code == 201, created.text
        contact = f"/v1/contacts/{created.json()['id']}"
        for _ in range(3):
            assert terminate_backends(server_url, name) >= 1
            # Each pooled connection is checked as it is taken: the dead ones are replaced.
            assert [client.get(contact).status_code for _ in range(5)] == [200] * 5
            # The group commit's own session was terminated too, and said so: the flusher
            # replaces it before sending the write, so the write succeeds.
            body = {"email": "again@example.com"}
            key = {"Idempotency-Key": secrets.token_hex(8)}
            first = client.post("/v1/contacts", json=body, headers=key)
            assert first.status_code == 201, first.text
            time.sleep(0.2)
