"""`syncline dev` as a person starts it: a subprocess, and the credentials its banner prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT

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
