"""Settling a batch looks its queue and pending rows up by key, however long the backlog: the
planner, taking a batch for 100 rows, would otherwise scan every row once per batch. The
settle function runs the very statements whose plans are checked here."""

from __future__ import annotations

import json
from uuid import uuid4

import psycopg

from delivery.queue import (
    DROP_EMPTY_QUEUES,
    LOCK_QUEUES,
    RELEASE_QUEUES,
    RESULTS,
    SETTLE,
    SETTLE_PLAN,
)
from syncline.runtime import Runtime

STATEMENTS = (LOCK_QUEUES, SETTLE, DROP_EMPTY_QUEUES, RELEASE_QUEUES)


def as_in_the_function(statement: str) -> str:
    """A statement as `syncline_webhook_settle()` runs it: the results are its parsed array,
    the other parameters its arguments."""
    statement = statement.replace(RESULTS, "unnest(v_results) AS r")
    for name in ("health", "metrics"):
        statement = statement.replace(f"%({name})s", f"p_{name}")
    statement = statement.strip()
    if statement.startswith("SELECT"):  # a query run for its locks
        statement = "PERFORM" + statement.removeprefix("SELECT")
    return statement + ";"


def test_the_settle_function_runs_the_statements_whose_plans_are_checked(
    runtime: Runtime,
) -> None:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'syncline_webhook_settle'"
        ).fetchone()
    assert row is not None
    body = str(row[0])
    begin, end = body.index("BEGIN\n") + len("BEGIN\n"), body.rindex("\nEND")
    assert body[begin:end] == "\n".join(as_in_the_function(s) for s in STATEMENTS)


def test_settling_a_batch_does_not_scan_the_whole_backlog(
    runtime: Runtime, database_url: str
) -> None:
    subscription = uuid4()
    entities = [uuid4() for _ in range(5000)]
    results = [
        {
            "subscription_id": str(subscription),
            "entity_id": str(e),
            "delivery_id": i,
            "moved_on": i % 2 == 0,
        }
        for i, e in enumerate(entities[:64])
    ]
    params = {"results": json.dumps(results), "health": "[]", "metrics": "[]"}
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        conn.execute(
            "INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)"
            " SELECT %s, e, now() + interval '1 day' FROM unnest(%s::uuid[]) AS e",
            (subscription, entities),
        )
        conn.execute(
            "INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id,"
            " next_attempt_at) SELECT %s, e, i, now() FROM unnest(%s::uuid[])"
            " WITH ORDINALITY AS u(e, i)",
            (subscription, entities),
        )
        # The planner must see the backlog as it would be (autovacuum would analyze a
        # table this size); ANALYZE counts this transaction's own rows, and its statistics
        # roll back with them. Without it, the plan follows whatever the shared test
        # database's tables last looked like, and a scan of a "tiny" table is cheapest.
        conn.execute("ANALYZE webhook_queues")
        conn.execute("ANALYZE webhook_pending")
        conn.execute(SETTLE_PLAN)
        plans = [
            "\n".join(row[0] for row in conn.execute("EXPLAIN " + statement, params).fetchall())
            for statement in STATEMENTS
        ]
        for plan in plans:
            assert "Seq Scan on webhook_queues" not in plan, plan
            assert "Seq Scan on webhook_pending" not in plan, plan
        assert "webhook_queues_pkey" in plans[0], plans[0]
        assert "webhook_pending_pkey" in plans[1], plans[1]
        assert "webhook_queues_pkey" in plans[2], plans[2]
        assert "webhook_pending_pkey" in plans[2], plans[2]
        assert "webhook_queues_pkey" in plans[3], plans[3]
        conn.rollback()
