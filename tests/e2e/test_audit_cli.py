"""`syncline audit …` and `syncline export` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

from syncline.runtime import Runtime
from tests.conftest import ROOT
from tests.integration.audit_helpers import history


def syncline(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "syncline.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_checkpoint_and_export_from_the_command_line(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    signed = syncline(database_url, "audit", "checkpoint")
    assert signed.returncode == 0, signed.stderr
    assert f"tenant {tenant}: checkpoint at sequence 3" in signed.stdout
    assert runtime.wait_for_projections()
    verified = syncline(database_url, "audit", "verify", "--tenant", str(tenant))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok: tenant {tenant}: 3 events, 1 checkpoints verified" in verified.stdout
    target = tmp_path / "export.ndjson"
    exported = syncline(database_url, "export", "--tenant", str(tenant), "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["sequence"] for line in lines if "id" in line] == [1, 2, 3]
    assert lines[-1]["checkpoint"]["sequence"] == 3


def test_an_unknown_tenant_or_a_foreign_cursor_exits_2(runtime: Runtime, database_url: str) -> None:
    unknown = uuid4()
    answer = syncline(database_url, "audit", "verify", "--tenant", str(unknown))
    assert answer.returncode == 2
    assert f"no tenant {unknown}" in answer.stderr  # errors go to standard error
    answer = syncline(database_url, "export", "--tenant", str(unknown))
    assert answer.returncode == 2
    assert f"no tenant {unknown}" in answer.stderr
    tenant, _ = history(runtime, 1)
    assert runtime.wait_for_projections()
    answer = syncline(database_url, "export", "--tenant", str(tenant), "--after", "garbage")
    assert answer.returncode == 2
    assert "--after" in answer.stderr
