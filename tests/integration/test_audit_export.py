"""The export streams: it reads the tenant's chain through a server-side cursor, a batch of
rows at a time, so its memory does not grow with the tenant's events or anyone else's."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from projections.audit import view
from projections.audit.view import AuditView
from syncline.runtime import Runtime
from tests.integration.audit_helpers import history

NAME = "syncline audit export test"


def last_query(runtime: Runtime) -> str:
    """What the export's session last sent, as another session sees it."""
    with psycopg.connect(runtime.database_url) as conn:
        row = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s", (NAME,)
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def export_pool(runtime: Runtime) -> Iterator[ConnectionPool]:
    """One session of its own, named, so that pg_stat_activity shows what it sent."""
    pool = ConnectionPool(
        runtime.database_url,
        min_size=1,
        max_size=1,
        kwargs={"application_name": NAME},
        open=True,
    )
    yield pool
    pool.close()


def test_the_export_fetches_its_rows_in_batches_from_a_server_side_cursor(
    runtime: Runtime, export_pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = history(runtime, 7)
    history(runtime, 5)  # another tenant's events, in between in the log
    assert runtime.wait_for_projections()
    runtime.checkpointer().checkpoint(tenant)
    assert runtime.wait_for_projections()
    whole = list(AuditView(export_pool).export(runtime.cursors, tenant, app=runtime.app))
    assert len(whole) == 8  # 7 events and the checkpoint

    monkeypatch.setattr(view, "EXPORT_FETCH", 3)
    lines = AuditView(export_pool).export(runtime.cursors, tenant, app=runtime.app)
    streamed = [next(lines)]
    # The first line is out while most of the chain is still in PostgreSQL.
    assert last_query(runtime) == 'FETCH FORWARD 3 FROM "audit_export"'
    streamed += [next(lines) for _ in range(3)]
    assert last_query(runtime) == 'FETCH FORWARD 3 FROM "audit_export"'
    streamed += list(lines)
    assert streamed == whole  # the same bytes, whatever the batch size
