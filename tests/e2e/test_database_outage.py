"""While its database refuses connections (a server restarting, a failover, `max_connections`
reached), `syncline serve` answers 503 problems with Retry-After within seconds, never
hangs and never answers 500; `/healthz` answers at once, even while `/metrics` is being
scraped; and once the database takes connections again, requests succeed within seconds,
however long the outage lasted. The outage is made with `ALTER DATABASE … ALLOW_CONNECTIONS
false` and every session of the database terminated."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import ADMIN_TOKEN, provision
from tests.support.deployment import deployment
from tests.support.poll import wait_until

OUTAGE_SECONDS = 20.0
ANSWER_BOUND = 20.0  # a request during the outage is answered (503) within this
RECOVERY_BOUND = 5.0  # after the outage, a request succeeds within this


def set_outage(server_url: str, dbname: str, *, on: bool) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        allow = "false" if on else "true"
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {allow}')
        if on:
            conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )


@pytest.fixture
def api(fresh_database: str, server_url: str) -> Iterator[tuple[str, str]]:
    """`syncline serve` on a database of its own; answers (its URL, the database's name)."""
    dbname = str(conninfo_to_dict(fresh_database)["dbname"])
    with deployment(fresh_database, api_workers=1, worker=False) as running:
        try:
            yield running.url, dbname
        finally:
            set_outage(server_url, dbname, on=False)  # whatever the test did


def timed(call: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[int, float, str]:
    """(status, seconds, Retry-After) of one request (status 0: no answer in 60 s)."""
    started = time.monotonic()
    try:
        response = call.request(method, path, timeout=60, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return 0, time.monotonic() - started, ""
    return (
        response.status_code,
        time.monotonic() - started,
        response.headers.get("retry-after", ""),
    )


def test_while_the_database_refuses_connections_requests_get_503s_and_recover_at_once(
    api: tuple[str, str], server_url: str
) -> None:
    url, dbname = api
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        tenant = provision(admin, "Outage")
    client = tenant.client
    contact = client.post("/v1/contacts", json={"email": "o@example.com"})
    assert contact.status_code == 201, contact.text

    set_outage(server_url, dbname, on=True)
    outage_started = time.monotonic()
    scrape: list[tuple[int, float, str]] = []
    scraper = threading.Thread(
        target=lambda: scrape.append(timed(httpx.Client(base_url=url), "GET", "/metrics"))
    )
    scraper.start()
    # A scrape reads PostgreSQL: meanwhile the process still answers its liveness probe.
    for _ in range(3):
        status, seconds, _ = timed(httpx.Client(base_url=url), "GET", "/healthz")
        assert status == 200, (status, seconds)
        assert seconds < 1.0, (status, seconds)
        time.sleep(0.3)

    requests: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/v1/contacts", {}),
        ("GET", f"/v1/contacts/{contact.json()['id']}", {}),
        ("GET", "/v1/changes", {}),
        ("POST", "/v1/contacts", {"json": {"email": "p@example.com"}}),
    ]
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda r: timed(client, r[0], r[1], **r[2]), requests))
    for status, seconds, retry_after in answers:
        assert status == 503, answers
        assert retry_after, answers
        assert seconds < ANSWER_BOUND, answers
    scraper.join(timeout=60)
    assert scrape, "the scrape did not end"
    assert scrape[0][0] == 200, scrape
    assert scrape[0][1] < ANSWER_BOUND, scrape

    # However long the outage, the pools are back within seconds of the database.
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    set_outage(server_url, dbname, on=False)
    back = time.monotonic()
    recovered = wait_until(
        lambda: timed(client, "GET", "/v1/contacts")[0] == 200, timeout=RECOVERY_BOUND
    )
    assert recovered, f"no 200 within {RECOVERY_BOUND} s of the database taking connections"
    assert client.post("/v1/contacts", json={"email": "q@example.com"}).status_code == 201
    assert time.monotonic() - back < RECOVERY_BOUND + 2
