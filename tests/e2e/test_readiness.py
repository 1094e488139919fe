"""/readyz means "this process can serve": a 200 while PostgreSQL answers, `degraded` and
naming each projection that fails or lags beyond SYNCLINE_LAG_ALERT_SECONDS."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime
from tests.conftest import ServerThread
from tests.support.poll import wait_until
from tests.support.projections import SeenProjection, append_contacts, start


class Broken(SeenProjection):
    """Cannot process any event (a bug in a release, say)."""

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        raise ValueError("cannot project this")


def forget(runtime: Runtime, name: str) -> None:
    with runtime.pool.connection() as conn:
        conn.execute("DELETE FROM projection_tracking WHERE name = %s", (name,))


@pytest.fixture
def probe(runtime: Runtime) -> Iterator[httpx.Client]:
    """An API process whose lag alert is half a second."""
    with (
        ServerThread(create_app(runtime.api_services(lag_alert_seconds=0.5))) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def readiness(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text  # degraded or not: it can serve
    body: dict[str, Any] = response.json()
    assert body["auth_cache"] in ("notified", "timed")
    return body


def test_a_failing_projection_makes_readyz_degraded_and_is_named(
    runtime: Runtime, api_server: ServerThread
) -> None:
    broken = Broken(f"broken_{secrets.token_hex(4)}")
    append_contacts(runtime, 1)
    runner = ProjectionRunner(runtime.app, runtime.pool, broken, poll_interval=0.2)
    runner.ensure_tracking()
    thread = start(runner)
    try:
        with httpx.Client(base_url=api_server.url, timeout=30) as client:
            assert wait_until(lambda: broken.name in readiness(client)["failing"])
            body = readiness(client)
            assert body["status"] == "degraded"
            assert body["failing"][broken.name] >= 0
            assert body["projections"][broken.name] == 0
    finally:
        runner.stop()
        thread.join(timeout=10)
        forget(runtime, broken.name)
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        assert broken.name not in readiness(client)["failing"]


def test_a_lagging_projection_makes_readyz_degraded_and_is_named(
    runtime: Runtime, probe: httpx.Client, caught_up: Any
) -> None:
    # A projection nobody runs (its worker is down): its oldest unprocessed event waits.
    stalled = f"stalled_{secrets.token_hex(4)}"
    append_contacts(runtime, 1)
    caught_up()
    with runtime.pool.connection() as conn:
        conn.execute("INSERT INTO projection_tracking (name) VALUES (%s)", (stalled,))
    try:
        assert wait_until(lambda: stalled in readiness(probe)["lagging"], 10)
        body = readiness(probe)
        assert body["status"] == "degraded"
        assert body["lagging"][stalled] > 0.5
        assert stalled not in body["failing"]
        # The running projections have caught up: they are not named.
        for runner in runtime.runners:
            assert runner.name not in body["failing"]
    finally:
        forget(runtime, stalled)
    body = readiness(probe)
    assert stalled not in body["lagging"]
    assert stalled not in body["projections"]


def test_readyz_names_none_of_the_projections_that_keep_up(
    runtime: Runtime, api_server: ServerThread, caught_up: Any
) -> None:
    caught_up()
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        body = readiness(client)
    # Other tests' projections may be on record; the worker's own keep up.
    assert body["status"] == ("degraded" if body["failing"] or body["lagging"] else "ready")
    names = {runner.name for runner in runtime.runners}
    assert names <= set(body["projections"])
    assert not names & (set(body["failing"]) | set(body["lagging"])), body
