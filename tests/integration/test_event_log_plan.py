"""A page of the event log is its positions by an index range scan, then each event by the
event store's notification id index: a nested loop, whatever share of the log the tenant's
events are and however far into it the page starts."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from projections.events.log import EventLog, event_store_table
from syncline.runtime import Runtime

EVENTS = 60_000  # the tenant holds one in ten


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "event_log_pkey"),
        ({"types": ["contact.updated"]}, "event_log_tenant_type"),  # a rare type
    ],
    ids=["all", "one type"],
)
def test_a_page_looks_each_event_up_by_notification_id(
    runtime: Runtime, database_url: str, filters: dict[str, list[str]], index: str
) -> None:
    tenant, other = uuid4(), uuid4()
    log = EventLog(runtime.pool, runtime.app)
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        first = conn.execute(
            psycopg.sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, 'domain.contact:Contact.Created', '\\x7b7d'"
                " FROM generate_series(1, %s) RETURNING notification_id"
            ).format(event_store_table(runtime.app)),
            (EVENTS,),
        ).fetchall()
        start = min(row[0] for row in first)
        conn.execute(
            "INSERT INTO event_log (tenant_id, position, occurred_at, event_key, entity_id, type)"
            " SELECT CASE WHEN i %% 10 = 0 THEN %s ELSE %s END, %s + i, now(), i,"
            " gen_random_uuid(), CASE WHEN i %% 500 = 0 THEN 'contact.updated'"
            " ELSE 'contact.created' END FROM generate_series(0, %s) AS i",
            (tenant, other, start, EVENTS - 1),
        )
        conn.execute("ANALYZE event_log")  # as autovacuum would see a log this size
        conn.execute(psycopg.sql.SQL("ANALYZE {}").format(event_store_table(runtime.app)))
        query, params = log.page_query(tenant, after=start + EVENTS // 2, limit=100, **filters)
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(psycopg.sql.SQL("EXPLAIN ") + query, params).fetchall()
        )
        conn.rollback()
    assert "Seq Scan" not in plan, plan
    assert "Hash" not in plan, plan
    assert "Merge Join" not in plan, plan
    assert "Nested Loop" in plan, plan
    # A range of the index: scanned in order, or (a rare type, when the sampled statistics
    # expect a handful of rows) as a bitmap of the range, sorted: both bounded by the range.
    assert any(
        f"{scan} {index}" in plan
        for scan in ("Index Only Scan using", "Index Scan using", "Bitmap Index Scan on")
    ), plan
    assert "notification_id" in plan, plan
