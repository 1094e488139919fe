"""Per-credential rate limits over HTTP: headers, 429 then recovery, one bucket shared by
every API process and by all of an OAuth client's tokens."""

from __future__ import annotations

import httpx

from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.clock import FakeClock
from tests.support.credentials import (
    api_process,
    api_server,
    bearer,
    fetch_token,
    request_token,
)
from tests.support.poll import eventually


def test_every_answer_carries_the_rate_limit_headers(tenant: TenantClient) -> None:
    response = tenant.get("/v1/contacts")
    assert response.status_code == 200
    assert int(response.headers["ratelimit-limit"]) == 1_000_000  # the test settings
    assert 0 <= int(response.headers["ratelimit-remaining"]) < 1_000_000
    assert int(response.headers["ratelimit-reset"]) >= 0


def test_over_the_limit_is_429_until_the_bucket_refills(
    runtime: Runtime, tenant: TenantClient
) -> None:
    clock = FakeClock(database=True)
    with api_server(runtime, clock, rate_limit_per_second=2.0, rate_limit_burst=3) as server:
        client = bearer(server.url, tenant.api_key)
        answers = [client.get("/v1/contacts") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        assert all(a.headers["ratelimit-limit"] == "3" for a in answers)

        limited = client.post(
            "/v1/contacts", json={"email": "nope@example.com"}, headers={"X-Request-ID": "rl-1"}
        )
        assert limited.status_code == 429
        assert limited.headers["x-request-id"] == "rl-1"  # raised by a middleware, still echoed
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.json()["type"].endswith("/rate-limited")
        assert limited.headers["retry-after"] == "1"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.headers["ratelimit-reset"] == "2"

        clock.advance(0.5)
        assert client.get("/v1/contacts").status_code == 200
        assert client.get("/v1/contacts").status_code == 429
        clock.advance(10)
        assert client.post("/v1/contacts", json={"email": "yes@example.com"}).status_code == 201
        client.close()


def test_recovery_on_the_database_clock(runtime: Runtime, tenant: TenantClient) -> None:
    """The real clock path: a tiny bucket, then wait for the condition, not a fixed sleep."""
    # One token per second: the second request comes well within that, even on a busy box.
    with api_server(runtime, FakeClock(), rate_limit_per_second=1.0, rate_limit_burst=1) as server:
        client = bearer(server.url, tenant.api_key)
        statuses = [client.get("/v1/contacts").status_code for _ in range(2)]
        assert statuses == [200, 429]
        eventually(lambda: client.get("/v1/contacts").status_code != 429, "the bucket refilled", 10)
        client.close()


def test_credentials_have_buckets_of_their_own_shared_by_an_oauth_clients_tokens(
    runtime: Runtime, tenant: TenantClient, other_tenant: TenantClient
) -> None:
    clock = FakeClock(database=True)
    with api_server(runtime, clock, rate_limit_per_second=1.0, rate_limit_burst=2) as server:
        anonymous = httpx.Client(base_url=server.url)
        first = bearer(server.url, fetch_token(anonymous, tenant.client_id, tenant.client_secret))
        # The token request took one token from the client's bucket; one is left.
        assert first.get("/v1/contacts").status_code == 200
        limited = request_token(anonymous, tenant.client_id, tenant.client_secret)
        assert limited.status_code == 429
        assert limited.json()["error"] == "slow_down"
        assert limited.headers["retry-after"] == "1"
        assert first.get("/v1/contacts").status_code == 429
        # The tenant's API key and another tenant are unaffected.
        for client in (
            bearer(server.url, tenant.api_key),
            bearer(server.url, other_tenant.api_key),
        ):
            assert client.get("/v1/contacts").status_code == 200
            client.close()
        clock.advance(1)
        second = bearer(server.url, fetch_token(anonymous, tenant.client_id, tenant.client_secret))
        assert second.get("/v1/contacts").status_code == 429  # same bucket as the first token
        for client in (first, second, anonymous):
            client.close()


def test_the_bucket_is_shared_by_api_processes(
    test_settings: Settings, tenant: TenantClient
) -> None:
    limits = {"rate_limit_per_second": 0.001, "rate_limit_burst": 4}
    with (
        api_process(test_settings, FakeClock(), **limits) as a,
        api_process(test_settings, FakeClock(), **limits) as b,
    ):
        clients = [bearer(a.url, tenant.api_key), bearer(b.url, tenant.api_key)]
        statuses = [clients[i % 2].get("/v1/contacts").status_code for i in range(6)]
        assert statuses == [200, 200, 200, 200, 429, 429]
        for client in clients:
            client.close()
