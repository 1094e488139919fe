"""A tenant that grew after its table was last analyzed still pages by index range scans.

PostgreSQL estimates such a tenant from the statistics of when it was small, and left to
itself plans a bitmap scan of all its rows and a sort of them for every page of the change
feed, of a list, or of the event log. `fetch_range` (which those pages run through) plans them with
bitmap scans off and sorts priced out, for its own transaction only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from projections.changes.feed import ChangeFeed, page_query
from projections.events.log import EventLog
from projections.range_scan import RANGE_PLAN, fetch_range
from projections.records.view import list_query
from syncline.runtime import Runtime
from tests.support.records import FIRST_POSITION

SMALL_TENANTS = 1000  # of 4 rows each, when the tables are analyzed
GROWN = 30_000  # the tenant's rows, added after

_RECORDS = (
    "INSERT INTO records (id, tenant_id, version, position, created_at, updated_at,"
    " deleted, resource, event_type, changed_at, data)"
    " SELECT gen_random_uuid(), %s, 1, %s + i, now() + i * interval '1 ms',"
    " now() + i * interval '1 ms', false, 'contact',"
    " 'contact.created', '2026-11-30T00:00:00.000000Z', '{}' FROM generate_series(1, %s) i"
)
_EVENTS = (
    "INSERT INTO event_log (tenant_id, position, occurred_at, event_key, entity_id, type)"
    " SELECT %s, %s + i, now(), i, gen_random_uuid(), 'contact.created'"
    " FROM generate_series(1, %s) i"
)


def _grown_after_analyze(conn: psycopg.Connection[Any]) -> UUID:
    """Small tenants, ANALYZE, then a tenant of GROWN rows (rolled back by the caller)."""
    for k in range(SMALL_TENANTS):
        small = uuid4()
        conn.execute(_RECORDS, (small, FIRST_POSITION + k * 100, 4))
        conn.execute(_EVENTS, (small, FIRST_POSITION + k * 100, 4))
    conn.execute("ANALYZE records")
    conn.execute("ANALYZE event_log")
    tenant = uuid4()
    conn.execute(_RECORDS, (tenant, FIRST_POSITION + 1_000_000, GROWN))
    conn.execute(_EVENTS, (tenant, FIRST_POSITION + 1_000_000, GROWN))
    return tenant


def _plan(conn: psycopg.Connection[Any], query: Any, params: Any) -> str:
    statement = psycopg.sql.SQL(query) if isinstance(query, str) else query
    explain = psycopg.sql.SQL("EXPLAIN ") + statement
    return "\n".join(str(row[0]) for row in conn.execute(explain, params).fetchall())


def _sorts(plan: str) -> list[str]:
    nodes = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
    return [node for node in nodes if node.startswith(("Sort  (", "Incremental Sort"))]


@pytest.mark.parametrize("types", [None, ["contact"]], ids=["every type", "one type"])
def test_a_feed_page_of_a_grown_tenant_is_a_range_scan(
    runtime: Runtime, database_url: str, types: list[str] | None
) -> None:
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        tenant = _grown_after_analyze(conn)
        conn.execute(RANGE_PLAN)
        plan = _plan(conn, *page_query(tenant, FIRST_POSITION, 1000, types))
        conn.rollback()
    assert "Bitmap" not in plan, plan
    assert not _sorts(plan), plan
    assert "Index Scan using records_tenant_resource_position" in plan, plan


@pytest.mark.parametrize("cursor", [False, True], ids=["first page", "with a cursor"])
def test_a_list_page_of_a_grown_tenant_is_a_range_scan(
    runtime: Runtime, database_url: str, cursor: bool
) -> None:
    with psycopg.connect(database_url) as conn:
        tenant = _grown_after_analyze(conn)
        after = (datetime.now(UTC), uuid4()) if cursor else None
        conn.execute(RANGE_PLAN)
        plan = _plan(conn, *list_query("contact", tenant, 100, after))
        conn.rollback()
    assert "Bitmap" not in plan, plan
    assert not [s for s in _sorts(plan) if s.startswith("Sort  (")], plan  # no full sort
    assert "Index Scan using records_tenant_resource_created" in plan, plan


def test_an_event_log_page_of_a_grown_tenant_is_a_range_scan(
    runtime: Runtime, database_url: str
) -> None:
    log = EventLog(runtime.pool, runtime.app)
    with psycopg.connect(database_url) as conn:
        tenant = _grown_after_analyze(conn)
        conn.execute(RANGE_PLAN)
        plan = _plan(conn, *log.page_query(tenant, after=0, limit=100))
        conn.rollback()
    assert "Bitmap" not in plan, plan
    assert not _sorts(plan), plan
    assert "event_log_pkey" in plan, plan


def test_the_plan_settings_last_one_statement(runtime: Runtime) -> None:
    """The statement runs under the settings; the pooled connection is as it was after."""
    with runtime.pool.connection() as conn:
        rows = fetch_range(
            conn,
            "SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort'), %s",
            [7],
        )
        after = conn.execute(
            "SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort')"
        ).fetchone()
        status = conn.info.transaction_status
    assert rows == [("off", "off", 7)]
    assert after == ("on", "on")
    assert status == psycopg.pq.TransactionStatus.IDLE


def test_a_failed_statement_leaves_the_connection_usable(runtime: Runtime) -> None:
    with runtime.pool.connection() as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            fetch_range(conn, "SELECT 1 / %s", [0])
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT current_setting('enable_bitmapscan')").fetchone() == ("on",)


def test_pages_read_through_it(runtime: Runtime, database_url: str) -> None:
    """The feed and the event log answer a grown tenant's pages in order, each row once."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tenant = uuid4()
        conn.execute(_RECORDS, (tenant, FIRST_POSITION, 2_500))
    try:
        feed, positions, after = ChangeFeed(runtime.pool), [], FIRST_POSITION
        while True:
            page = feed.page(tenant, after, 1000)
            positions += [position for position, _ in page.items]
            if not page.has_more:
                break
            after = page.items[-1][0]
        assert positions == list(range(FIRST_POSITION + 1, FIRST_POSITION + 2_501))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM records WHERE tenant_id = %s", (tenant,))


def test_a_connection_in_a_transaction_is_left_as_it_was(
    runtime: Runtime, database_url: str
) -> None:
    """Its transaction is the caller's: the statement runs in it as it is (no BEGIN or
    COMMIT of ours, no settings that would outlast it)."""
    probe = "SELECT current_setting('enable_bitmapscan'), %s"
    with psycopg.connect(database_url) as conn:  # not autocommit
        assert fetch_range(conn, probe, [1]) == [("on", 1)]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.rollback()
    with runtime.pool.connection() as conn, conn.transaction():
        conn.execute("CREATE TEMPORARY TABLE range_scan_probe (x int)")
        assert fetch_range(conn, probe, [2]) == [("on", 2)]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.execute("INSERT INTO range_scan_probe VALUES (1)")  # the same transaction
        conn.execute("DROP TABLE range_scan_probe")


def test_a_pooled_connection_comes_back_autocommit(runtime: Runtime) -> None:
    """Whatever a borrower did to it: the next borrower gets the range-scan plan again."""
    with runtime.pool.connection() as conn:
        conn.autocommit = False
        conn.execute("SELECT 1")
    for _ in range(runtime.pool.get_stats()["pool_size"]):
        with runtime.pool.connection() as conn:
            assert conn.autocommit
            assert fetch_range(conn, "SELECT current_setting('enable_bitmapscan')", []) == [
                ("off",)
            ]
