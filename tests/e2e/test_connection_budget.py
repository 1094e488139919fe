"""The connection budget: one `syncline serve` and one `syncline worker`, started as
operators start them, hold at most 5 and 8 PostgreSQL sessions under load (writes,
long-polls, webhook deliveries), counted in pg_stat_activity by the name each process
gives its sessions (`... <host>:<pid>`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from syncline.database import BUDGETS
from tests.conftest import ADMIN_TOKEN, ROOT, TenantClient, free_port, provision
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import subscribe

LOAD_SECONDS = 4.0


def sessions(database_url: str, pid: int) -> list[str]:
    """The application names of the sessions process `pid` holds on this database."""
    suffix = f"{socket.gethostname()}:{pid}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s",
            (f"syncline % {suffix}",),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def processes(
    fresh_database: str,
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "SYNCLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS": "1",
        "SYNCLINE_RATE_LIMIT_PER_SECOND": "1000000",
        "SYNCLINE_RATE_LIMIT_BURST": "1000000",
        "SYNCLINE_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("SYNCLINE_DB_POOL_SIZE", "SYNCLINE_DB_EVENT_STORE_POOL_SIZE"):
        env.pop(name, None)  # the defaults are what is measured
    api = subprocess.Popen(
        [sys.executable, "-m", "syncline.cli", "serve", "--port", str(port)], env=env, cwd=ROOT
    )
    worker = subprocess.Popen([sys.executable, "-m", "syncline.cli", "worker"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(healthy, timeout=60), "syncline serve did not start"
        yield url, api, worker
    finally:
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_an_api_process_and_a_worker_keep_to_their_connection_budget(
    processes: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    fresh_database: str,
) -> None:
    url, api, worker = processes
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        tenant: TenantClient = provision(admin, "Budget")
    with Receiver() as receiver:
        subscribe(tenant, receiver.url + "/hooks", ["contact.created"])
        stop = threading.Event()
        created: list[int] = []
        failures: list[str] = []

        def write(n: int) -> None:
            with httpx.Client(base_url=url, headers=tenant.client.headers, timeout=30) as c:
                i = 0
                while not stop.is_set():
                    response = c.post("/v1/contacts", json={"email": f"b{n}-{i}@example.com"})
                    if response.status_code == 201:
                        created.append(1)
                    else:
                        failures.append(f"{response.status_code} {response.text}")
                    i += 1

        def long_poll() -> None:
            with httpx.Client(base_url=url, headers=tenant.client.headers, timeout=30) as c:
                cursor = None
                while not stop.is_set():
                    query = {"limit": 100, "wait": 1, **({"cursor": cursor} if cursor else {})}
                    response = c.get("/v1/changes", params=query)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text}")
                        continue
                    cursor = response.json()["next_cursor"] or cursor

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        threads += [threading.Thread(target=long_poll) for _ in range(4)]
        for thread in threads:
            thread.start()
        most = {"api": 0, "worker": 0}
        seen: dict[str, list[str]] = {}
        try:
            assert receiver.wait_count(5, "/hooks", timeout=30), "deliveries were not flowing"
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                for role, process in (("api", api), ("worker", worker)):
                    names = sessions(fresh_database, process.pid)
                    if len(names) >= most[role]:
                        most[role], seen[role] = len(names), names
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    assert not failures, failures[:3]
    assert len(created) > 50, "too little load to measure under"
    assert most["api"] >= 3, seen  # the count works: pool, flusher, listener at least
    assert most["worker"] >= 3, seen  # leader session, pool, delivery at least
    assert most["api"] <= BUDGETS["api"].total <= 5, seen
    assert most["worker"] <= BUDGETS["worker"].total <= 8, seen
    # One leader session holds every projection's lock.
    assert sum("leader" in name for name in seen["worker"]) == 1, seen
