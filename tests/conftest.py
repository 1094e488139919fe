"""Fixtures: a fresh PostgreSQL database per test session, a running Syncline, tenants.

`DATABASE_URL` names the server to use; without it an embedded PostgreSQL (pgserver) is
started under `.syncline/`. Either way the session gets a database of its own, dropped at
the end, so parallel runs never share state. Tests isolate from each other by tenant.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, settings

from api.app import create_app
from syncline.config import Settings
from syncline.database import resolve_database_url
from syncline.runtime import Runtime
from tests.support.databases import own_database
from tests.support.poll import eventually

pytest_plugins = ["tests.support.webhooks"]

settings.register_profile(
    "default",
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("default")

ADMIN_TOKEN = "test-admin-token"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_url() -> str:
    """The PostgreSQL server: DATABASE_URL, or an embedded one under `.syncline/`."""
    return resolve_database_url(os.environ.get("DATABASE_URL"), ROOT / ".syncline" / "test")


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty database of the test's own (schema migrations start from an old shape)."""
    with own_database(server_url, "syncline_migrate") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database of this test session's own, dropped afterwards."""
    with own_database(server_url, f"syncline_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="session")
def test_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        allow_private_webhooks=True,
        data_dir=tmp_path_factory.mktemp("data"),
        # Tests make many requests per credential quickly; rate limiting is still charged on
        # every request, and tests/e2e/test_rate_limiting.py runs servers with tiny buckets.
        rate_limit_per_second=1_000_000.0,
        rate_limit_burst=1_000_000,
    )


@pytest.fixture(scope="session")
def runtime(test_settings: Settings) -> Iterator[Runtime]:
    """Syncline's adapters with every projection running, as `syncline worker` runs them."""
    rt = Runtime.open(test_settings)
    rt.start_projections(poll_interval=0.5)
    yield rt
    rt.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        eventually(lambda: self.server.started, "uvicorn started", 30, interval=0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_server(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime.api_services())) as server:
        yield server


@pytest.fixture
def http(api_server: ServerThread) -> Iterator[httpx.Client]:
    """An HTTP client of the running API (no credentials)."""
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(api_server: ServerThread) -> Iterator[httpx.Client]:
    """An HTTP client holding the operator's admin token."""
    with httpx.Client(
        base_url=api_server.url,
        timeout=30,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as client:
        yield client


@dataclass
class TenantClient:
    """A freshly provisioned tenant and an HTTP client authenticated with its API key."""

    id: str
    api_key: str
    client_id: str
    client_secret: str
    client: httpx.Client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def provision(admin: httpx.Client, name: str = "Acme", **body: Any) -> TenantClient:
    response = admin.post("/admin/tenants", json={"name": name, **body})
    assert response.status_code == 201, response.text
    answer = response.json()
    client = httpx.Client(
        base_url=str(admin.base_url),
        timeout=30,
        headers={"Authorization": f"Bearer {answer['api_key']['key']}"},
    )
    return TenantClient(
        id=answer["tenant"]["id"],
        api_key=answer["api_key"]["key"],
        client_id=answer["oauth_client"]["client_id"],
        client_secret=answer["oauth_client"]["client_secret"],
        client=client,
    )


@pytest.fixture
def tenant(admin: httpx.Client) -> Iterator[TenantClient]:
    t = provision(admin, "Acme")
    yield t
    t.client.close()


@pytest.fixture
def other_tenant(admin: httpx.Client) -> Iterator[TenantClient]:
    t = provision(admin, "Globex")
    yield t
    t.client.close()


@pytest.fixture
def caught_up(runtime: Runtime) -> Any:
    """Call to wait until every projection has processed everything committed so far."""

    def wait() -> None:
        assert runtime.wait_for_projections(timeout=30), "projections did not catch up"

    return wait
