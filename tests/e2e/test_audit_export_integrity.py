"""An export never ends early as if it were complete: a gap in the chain (an event store
row or an `audit_chain` row deleted) or a stored event that no longer decodes makes
`syncline export` fail with its own exit status and leave no file, and makes
`GET /v1/events/export` abort its body instead of ending it cleanly. Every tamper is undone
at the end of its test (other tests verify every tenant of the database)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest

from syncline.audit_cli import EXPORT_INCOMPLETE
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.e2e.test_audit_cli import syncline
from tests.integration.audit_helpers import (
    chain_rows,
    delete_row,
    execute,
    history,
    insert_row,
    set_state,
    stored_row,
)
from tests.support.audit import auditor, make_history


def export_file(database_url: str, tenant: UUID, target: Path) -> tuple[int, str]:
    answer = syncline(database_url, "export", "--tenant", str(tenant), "--output", str(target))
    return answer.returncode, answer.stdout + answer.stderr


@contextmanager
def tampered(runtime: Runtime, tenant: UUID, sequence: int, tamper: str) -> Iterator[int]:
    """The tenant's event at `sequence` tampered with (`tamper`), then put back; answers its
    log position."""
    position = chain_rows(runtime, tenant)[sequence - 1][1]
    original = stored_row(runtime, position)
    undo: Callable[[], None]
    if tamper == "event row":
        delete_row(runtime, position)
        undo = lambda: insert_row(runtime, original)  # noqa: E731
    elif tamper == "garbage state":
        set_state(runtime, position, b"\x00garbage")
        undo = lambda: set_state(runtime, position, bytes(original[4]))  # noqa: E731
    else:
        row = (tenant, sequence)
        with psycopg.connect(runtime.database_url) as conn:
            saved = conn.execute(
                "SELECT * FROM audit_chain WHERE tenant_id = %s AND sequence = %s", row
            ).fetchone()
        execute(runtime, "DELETE FROM audit_chain WHERE tenant_id = %s AND sequence = %s", row)
        undo = lambda: execute(  # noqa: E731
            runtime, "INSERT INTO audit_chain VALUES (%s, %s, %s, %s, %s)", saved
        )
    try:
        yield position
    finally:
        undo()


@pytest.mark.parametrize("tamper", ["event row", "chain row", "last chain row", "garbage state"])
def test_the_cli_export_refuses_to_end_early(
    runtime: Runtime, database_url: str, tmp_path: Path, tamper: str
) -> None:
    tenant, _ = history(runtime, 5)
    assert runtime.wait_for_projections()
    sequence = 5 if tamper == "last chain row" else 3
    target = tmp_path / "export.ndjson"
    with tampered(runtime, tenant, sequence, tamper) as position:
        status, output = export_file(database_url, tenant, target)
    assert status == EXPORT_INCOMPLETE == 3, output
    assert "Traceback" not in output
    assert f"tenant {tenant}" in output
    assert f"sequence {sequence}" in output
    if tamper in ("event row", "garbage state"):
        assert f"log position {position}" in output
    assert not target.exists()  # no partial file that looks complete
    assert list(tmp_path.iterdir()) == []  # nor its temporary file


def test_a_good_export_replaces_the_file_only_when_complete(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    target = tmp_path / "export.ndjson"
    target.write_text("an earlier export\n")
    status, output = export_file(database_url, tenant, target)
    assert status == 0, output
    assert len(target.read_text().splitlines()) == 3
    assert list(tmp_path.iterdir()) == [target]


def read_export(client: httpx.Client, request_id: str, received: list[bytes]) -> int:
    """Read the export into `received`; its status (the transfer must fail)."""
    with client.stream("GET", "/v1/events/export", headers={"X-Request-ID": request_id}) as r:
        with pytest.raises(httpx.TransportError):  # an incomplete chunked body
            received.extend(r.iter_bytes())
        return r.status_code


@pytest.mark.parametrize("tamper", ["event row", "garbage state"])
def test_the_http_export_aborts_instead_of_ending_early(
    runtime: Runtime,
    admin: httpx.Client,
    tenant: TenantClient,
    caught_up,
    caplog: pytest.LogCaptureFixture,
    tamper: str,
) -> None:
    make_history(tenant, 4)
    caught_up()
    caplog.set_level(logging.ERROR)
    received: list[bytes] = []
    with auditor(admin, tenant) as client, tampered(runtime, UUID(tenant.id), 3, tamper):
        status = read_export(client, f"export-{tamper[:5]}", received)
    assert status == 200  # the answer had started: only the transfer's end can fail
    received_bytes = b"".join(received)
    assert received_bytes.count(b"\n") == 2  # the lines before the gap, then no clean end
    errors = [r for r in caplog.records if r.getMessage() == "audit export incomplete"]
    assert errors, caplog.text
    assert getattr(errors[-1], "correlation_id", None) == f"export-{tamper[:5]}"
    assert getattr(errors[-1], "sequence", None) == 3
