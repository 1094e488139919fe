"""Settling a batch looks its queue rows up by key, however long the backlog: the planner,
taking a batch for 100 rows, would otherwise scan every queue row once per batch."""

from __future__ import annotations

import json
from uuid import uuid4

import psycopg

from delivery.outbox import DROP_EMPTY_QUEUES, LOCK_QUEUES, SETTLE, SETTLE_PLAN
from syncline.runtime import Runtime


def test_settling_a_batch_does_not_scan_the_whole_backlog(
    runtime: Runtime, database_url: str
) -> None:
    subscription = uuid4()
    entities = [uuid4() for _ in range(5000)]
    results = [
        {"subscription_id": str(subscription), "entity_id": str(e), "moved_on": True}
        for e in entities[:64]
    ]
    params = {"results": json.dumps(results), "health": "[]", "metrics": "[]"}
    with psycopg.connect(database_url) as conn:  # rolled back: nobody sees these rows
        conn.execute(
            "INSERT INTO webhook_queues (subscription_id, entity_id, next_attempt_at)"
            " SELECT %s, e, now() + interval '1 day' FROM unnest(%s::uuid[]) AS e",
            (subscription, entities),
        )
        conn.execute(SETTLE_PLAN)
        for statement in (LOCK_QUEUES, SETTLE, DROP_EMPTY_QUEUES):
            plan = "\n".join(
                row[0] for row in conn.execute("EXPLAIN " + statement, params).fetchall()
            )
            assert "Seq Scan on webhook_queues" not in plan, plan
            assert "webhook_queues_pkey" in plan, plan
        conn.rollback()
