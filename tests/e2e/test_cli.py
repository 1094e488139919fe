"""The `syncline` command as an operator runs it: `dev` prints working credentials."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, free_port
from tests.support.poll import eventually


def test_dev_prints_a_working_api_key_and_stops_cleanly(database_url: str, tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SYNCLINE_ADMIN_TOKEN": "cli-admin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "syncline.cli", "dev", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        key = None
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while key is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if match := re.search(r"API key\s+(sk_\S+)", line):
                key = match.group(1)
        assert key, "syncline dev printed no API key"
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, "syncline dev answers /healthz", 60, interval=0.1)
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{base}/v1/contacts", json={"email": "cli@example.com"}, headers=headers
        )
        assert created.status_code == 201
        assert httpx.get(
            f"{base}/admin/tenants", headers={"Authorization": "Bearer cli-admin"}
        ).json()["data"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
