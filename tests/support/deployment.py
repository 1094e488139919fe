"""A deployment as users run one: `syncline serve --workers N` and `syncline worker`, each a
process of its own, on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.conftest import ADMIN_TOKEN, ROOT, free_port
from tests.support.poll import wait_until


@dataclass
class Deployment:
    database_url: str
    url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "syncline.cli", *args], env=self.env, cwd=ROOT
        )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )


@contextmanager
def deployment(
    database_url: str, *, api_workers: int = 2, worker: bool = True
) -> Iterator[Deployment]:
    """`syncline serve --workers api_workers` (and a `syncline worker` unless told not to),
    answering once every API process serves."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SYNCLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS": "1",
        "SYNCLINE_RATE_LIMIT_PER_SECOND": "1000000",
        "SYNCLINE_RATE_LIMIT_BURST": "1000000",
        "SYNCLINE_LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }
    running = Deployment(database_url, f"http://127.0.0.1:{port}", env)
    # Migrated first, so the API processes start quickly (uvicorn replaces a worker process
    # that is slow to answer its supervisor, which a loaded machine makes likely).
    subprocess.run([sys.executable, "-m", "syncline.cli", "migrate"], env=env, cwd=ROOT, check=True)
    try:
        running.start(
            "api",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(api_workers),
        )
        if worker:
            running.start("worker", "worker")

        def ready() -> bool:
            try:
                return httpx.get(f"{running.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout=180), "the API did not start"

        def writes() -> bool:
            # Every process (2 API processes and a worker: about 50 connections) has
            # connected, and a write commits: a 503 means a connection is still missing.
            with running.admin() as admin:
                return admin.post("/admin/tenants", json={"name": "Ready"}).status_code == 201

        assert wait_until(writes, timeout=60, interval=1), "the API could not write"
        yield running
    finally:
        for name in list(running.processes):
            running.stop(name)
