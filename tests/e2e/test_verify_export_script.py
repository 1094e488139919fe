"""docs/audit/verify_export.py, run as an auditor runs it, on real and doctored exports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import httpx

from syncline.runtime import Runtime
from tests.conftest import ROOT, TenantClient
from tests.support.audit import auditor, checkpoint, make_history

SCRIPT = ROOT / "docs" / "audit" / "verify_export.py"


def run(path: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path), key],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_script_imports_only_the_standard_library_cryptography_and_rfc8785() -> None:
    tree = ast.parse(SCRIPT.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography", "rfc8785"}


def test_a_real_export_is_accepted_and_a_doctored_one_rejected(
    runtime: Runtime, admin: httpx.Client, tenant: TenantClient, caught_up, tmp_path: Path
) -> None:
    make_history(tenant, 4)
    checkpoint(runtime, tenant, caught_up)
    with auditor(admin, tenant) as client:
        key = client.get("/v1/audit/public-key").json()["public_key"]
        export = client.get("/v1/events/export").text
        cursor = json.loads(export.splitlines()[1])["cursor"]
        partial = client.get("/v1/events/export", params={"after": cursor}).text
    real = tmp_path / "export.ndjson"
    real.write_text(export)
    accepted = run(real, key)
    assert accepted.returncode == 0, accepted.stderr
    assert "OK: 4 events" in accepted.stdout
    assert "1 checkpoints" in accepted.stdout

    after = tmp_path / "partial.ndjson"
    after.write_text(partial)
    accepted = run(after, key)
    assert accepted.returncode == 0, accepted.stderr
    assert "OK: 2 events (sequences 3-4)" in accepted.stdout

    lines = export.splitlines()
    doctored = tmp_path / "doctored.ndjson"
    changed = json.loads(lines[2])
    changed["data"]["name"] = "Mallory"
    doctored.write_text("\n".join([*lines[:2], json.dumps(changed), *lines[3:]]) + "\n")
    rejected = run(doctored, key)
    assert rejected.returncode == 1
    assert "line 3" in rejected.stderr
    assert changed["id"] in rejected.stderr

    dropped = tmp_path / "dropped.ndjson"
    dropped.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    rejected = run(dropped, key)
    assert rejected.returncode == 1
    assert "line 2" in rejected.stderr

    forged = tmp_path / "forged.ndjson"
    point = json.loads(lines[-1])
    point["checkpoint"]["signed_at"] = "2030-01-01T00:00:00.000000Z"
    forged.write_text("\n".join([*lines[:-1], json.dumps(point)]) + "\n")
    rejected = run(forged, key)
    assert rejected.returncode == 1
    assert f"line {len(lines)}" in rejected.stderr
    assert "signature" in rejected.stderr

    garbled = tmp_path / "garbled.ndjson"
    garbled.write_text("\n".join([*lines[:2], "{not json", *lines[2:]]) + "\n")
    rejected = run(garbled, key)
    assert rejected.returncode == 1
    assert "line 3: not a JSON object" in rejected.stderr

    assert run(real, "not-a-key").returncode == 2
