"""`syncline audit verify` and `syncline export` as one-shot commands: events not chained
yet are reported, errors are one clear line on standard error with exit status 2 (no
traceback, no endless retry), and progress bars count the tenant's own events."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import psycopg

from projections.runner import ProjectionRunner
from syncline.config import Settings
from syncline.database import with_dbname
from syncline.runtime import Runtime
from tests.conftest import ROOT
from tests.integration.audit_helpers import history


def syncline(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncline.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_reports_the_events_the_audit_projection_has_not_chained_yet(
    fresh_database: str, tmp_path: Path
) -> None:
    runtime = Runtime.open(Settings(database_url=fresh_database, data_dir=tmp_path))
    try:  # no projection runs here: as with the worker stopped
        tenant, _ = history(runtime, 4)
        ProjectionRunner(runtime.app, runtime.pool, runtime.projection("audit")).rebuild()
        history(runtime, 3, tenant)
        with psycopg.connect(fresh_database) as conn:
            row = conn.execute(
                "SELECT position FROM projection_tracking WHERE name = 'audit'"
            ).fetchone()
        assert row is not None
        answer = syncline(fresh_database, "audit", "verify", "--tenant", str(tenant))
    finally:
        runtime.close()
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert (
        f"ok: tenant {tenant}: 4 events, 0 checkpoints verified; 3 events written after"
        f" position {row[0]} are not chained yet" in answer.stdout
    )


def test_verify_counts_only_the_given_tenants_events_in_its_progress_bar(
    runtime: Runtime, database_url: str
) -> None:
    history(runtime, 6)  # another tenant's events, in the same log
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    answer = syncline(database_url, "audit", "verify", "--tenant", str(tenant))
    assert answer.returncode == 0, answer.stderr
    assert "| 3/3 [" in answer.stderr, answer.stderr


def test_export_shows_its_progress_on_standard_error(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant, _ = history(runtime, 5)
    assert runtime.wait_for_projections()
    target = tmp_path / "export.ndjson"
    answer = syncline(database_url, "export", "--tenant", str(tenant), "--output", str(target))
    assert answer.returncode == 0, answer.stderr
    assert "export: 100%" in answer.stderr, answer.stderr
    assert "| 5/5 [" in answer.stderr, answer.stderr


def test_an_output_in_a_missing_directory_is_a_usage_error(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant, _ = history(runtime, 1)
    assert runtime.wait_for_projections()
    target = tmp_path / "nonexistent" / "dir" / "x"
    answer = syncline(database_url, "export", "--tenant", str(tenant), "--output", str(target))
    assert answer.returncode == 2
    assert f"syncline export: cannot write {target}" in answer.stderr
    assert "Traceback" not in answer.stderr


def test_an_output_that_is_a_directory_is_refused_before_the_export_runs(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant, _ = history(runtime, 1)
    assert runtime.wait_for_projections()
    answer = syncline(database_url, "export", "--tenant", str(tenant), "--output", str(tmp_path))
    assert answer.returncode == 2
    assert f"syncline export: cannot write {tmp_path}: it is a directory" in answer.stderr
    assert "export:" not in answer.stderr.replace("syncline export:", "")  # never started
    assert not list(tmp_path.iterdir())  # no file left behind


def test_a_malformed_signing_key_is_a_clear_error(runtime: Runtime, database_url: str) -> None:
    answer = syncline(
        database_url, "audit", "verify", SYNCLINE_AUDIT_SIGNING_KEY="not base64 at all!"
    )
    assert answer.returncode == 2
    # Checked with every setting before the command runs; the key itself is never shown.
    assert answer.stderr.splitlines() == [
        "syncline: SYNCLINE_AUDIT_SIGNING_KEY: not base64;"
        " allowed: the base64 of a 32-byte Ed25519 seed"
    ]


def test_a_missing_database_fails_fast(database_url: str) -> None:
    missing = with_dbname(database_url, "syncline_no_such_database")
    for args in (("audit", "verify"), ("export", "--tenant", str(UUID(int=1)))):
        started = time.monotonic()
        answer = syncline(missing, *args)
        assert answer.returncode == 2, answer.stderr
        assert time.monotonic() - started < 30
        assert "cannot reach the database" in answer.stderr
        assert "syncline_no_such_database" in answer.stderr
        assert "Traceback" not in answer.stderr
