"""The `syncline` command as an operator runs it: `dev` prints working credentials."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, free_port
from tests.support.dev_process import start_dev, stop_dev
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


def test_dev_keeps_its_credentials_across_restarts_until_reset(database_url: str, tmp_path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first, printed = start_dev(database_url, tmp_path, port)
    stop_dev(first)
    kept = tmp_path / ".syncline" / "dev-credentials.json"
    assert kept.stat().st_mode & 0o777 == 0o600

    second, again = start_dev(database_url, tmp_path, port)
    try:
        assert again == printed
        key = {"Authorization": f"Bearer {again['API key']}"}
        assert httpx.get(f"{base}/v1/contacts", headers=key).status_code == 200
        admin = {"Authorization": f"Bearer {again['Admin token']}"}
        assert httpx.get(f"{base}/admin/tenants", headers=admin).status_code == 200
        token = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(again["client_id"], again["client_secret"]),
        )
        assert token.status_code == 200, token.text
    finally:
        stop_dev(second)

    third, fresh = start_dev(database_url, tmp_path, port, "--reset-credentials")
    try:
        assert all(fresh[label] != printed[label] for label in printed)
        old = {"Authorization": f"Bearer {printed['API key']}"}
        assert httpx.get(f"{base}/v1/contacts", headers=old).status_code == 401
        new = {"Authorization": f"Bearer {fresh['API key']}"}
        assert httpx.get(f"{base}/v1/contacts", headers=new).status_code == 200
    finally:
        stop_dev(third)


def test_dev_on_a_busy_port_says_so_in_one_line_and_exits(database_url: str, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finished = subprocess.run(
            [sys.executable, "-m", "syncline.cli", "dev", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode == 1
    assert finished.stdout == ""  # no banner, no credentials for a server that never ran
    assert finished.stderr.strip().splitlines() == [
        f"syncline dev: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another port with --port (make run PORT=...)"
    ]


def test_a_data_dir_the_system_will_not_make_is_one_line_and_exit_2() -> None:
    # /proc takes no new directory, even from root (whom the settings check cannot refuse
    # without trying): the embedded database's start says so instead of a traceback.
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    answer = subprocess.run(
        [sys.executable, "-m", "syncline.cli", "migrate", "--dry-run"],
        env={**environ, "SYNCLINE_DATA_DIR": "/proc/syncline-test/data", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert "SYNCLINE_DATA_DIR=/proc/syncline-test/data: cannot be made" in answer.stderr


def test_serve_on_a_taken_port_says_so_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = subprocess.run(
            [sys.executable, "-m", "syncline.cli", "serve", "--port", str(port)],
            env={
                **os.environ,
                "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                "PYTHONPATH": str(ROOT),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert answer.returncode == 1, answer.stderr
    assert answer.stderr.strip() == (
        f"syncline serve: cannot listen on 127.0.0.1:{port} (Address already in use);"
        " choose another port with --port"
    )
