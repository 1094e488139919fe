"""`syncline dev` as a person starts it: a subprocess, and the credentials its banner prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, ROOT
from tests.support.poll import wait_until

LABELS = ("Admin token", "Demo tenant", "API key", "client_id", "client_secret")


def start_dev(
    database_url: str, cwd: Path, port: int, *args: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `syncline dev` in `cwd`; answers once /healthz is 200 (it handles SIGTERM then)."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.pop("SYNCLINE_ADMIN_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "syncline.cli", "dev", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    printed: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while len(printed) < len(LABELS) and time.monotonic() < deadline:
        line = process.stdout.readline()
        for label in LABELS:
            if match := re.match(rf"\s+{label}\s+(\S+)$", line):
                printed[label] = match.group(1)
    assert len(printed) == len(LABELS), f"syncline dev printed {printed}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, printed


def stop_dev(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


@contextmanager
def serve(database_url: str, cwd: Path, port: int, workers: int = 2) -> Iterator[str]:
    """`syncline serve --workers N` on `database_url` as an operator runs it (admin token
    ADMIN_TOKEN, no rate limit worth hitting); answers its URL once /healthz is 200."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "SYNCLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "SYNCLINE_DATA_DIR": str(cwd / "data"),
        "SYNCLINE_LOG_LEVEL": "WARNING",
        "SYNCLINE_RATE_LIMIT_PER_SECOND": "1000000",
        "SYNCLINE_RATE_LIMIT_BURST": "1000000",
    }
    args = ("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers))
    process = subprocess.Popen(
        [sys.executable, "-m", "syncline.cli", "serve", *args], cwd=cwd, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _healthy(url), timeout=180), "syncline serve did not start"
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
