"""A database from before the outbox split (delivery state kept in `webhook_deliveries`) is
migrated on start: every delivery keeps its state, and the next start changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg

from delivery.history import WITH_STATE
from delivery.queue import CLAIM
from delivery.schema import SCHEMA

# The tables as they were before the split.
OLD_DELIVERIES = [
    """
    CREATE TABLE webhook_deliveries (
        id bigserial PRIMARY KEY,
        public_id uuid NOT NULL UNIQUE,
        subscription_id uuid NOT NULL,
        tenant_id uuid NOT NULL,
        entity_id uuid NOT NULL,
        position bigint NOT NULL,
        enqueued_position bigint NOT NULL,
        origin text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        correlation_id text NOT NULL,
        body bytea NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        next_attempt_at timestamptz,
        last_attempt_at timestamptz,
        finished_at timestamptz,
        last_error text,
        UNIQUE (subscription_id, position, origin)
    )
    """,
    "CREATE INDEX webhook_deliveries_queue"
    " ON webhook_deliveries (subscription_id, entity_id, id) WHERE state = 'pending'",
    "CREATE INDEX webhook_deliveries_list ON webhook_deliveries (subscription_id, id)",
    "CREATE INDEX webhook_deliveries_finished"
    " ON webhook_deliveries (finished_at) WHERE state <> 'pending'",
    """
    CREATE TABLE webhook_attempts (
        id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL,
        subscription_id uuid NOT NULL,
        attempted_at timestamptz NOT NULL,
        outcome text NOT NULL,
        status_code integer,
        latency_ms double precision NOT NULL,
        error text
    )
    """,
    "CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id)",
    "CREATE INDEX webhook_attempts_time ON webhook_attempts (attempted_at)",
    """
    CREATE TABLE webhook_queues (
        subscription_id uuid NOT NULL,
        entity_id uuid NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        PRIMARY KEY (subscription_id, entity_id)
    )
    """,
]


def apply(conn: psycopg.Connection[object]) -> None:
    with conn.transaction():
        for statement in SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]


def test_an_old_outbox_is_migrated_with_every_state_kept(fresh_database: str) -> None:
    subscription, tenant = uuid4(), uuid4()
    now = datetime.now(UTC)
    retry_at = now + timedelta(minutes=5)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for statement in OLD_DELIVERIES:
            conn.execute(statement)  # type: ignore[arg-type]
        old = {
            # state: (attempts, next_attempt_at, finished_at, last_error)
            "pending": (1, retry_at, None, "HTTP 500"),
            "delivered": (1, None, now, None),
            "failed": (8, None, now, "HTTP 500"),
            "cancelled": (0, None, now, "the webhook was disabled"),
        }
        ids = {}
        for i, (state, (attempts, next_at, finished_at, error)) in enumerate(old.items()):
            entity = uuid4()
            values = (uuid4(), subscription, tenant, entity, i, i, state, attempts, now)
            row = conn.execute(
                "INSERT INTO webhook_deliveries (public_id, subscription_id, tenant_id,"
                " entity_id, position, enqueued_position, origin, event_id, event_type,"
                " correlation_id, body, state, attempts, created_at, next_attempt_at,"
                " finished_at, last_error) VALUES (%s, %s, %s, %s, %s, %s, 'log', 'evt_x',"
                " 'contact.created', 'c', '{}', %s, %s, %s, %s, %s, %s) RETURNING id",
                (*values, next_at, finished_at, error),
            ).fetchone()
            assert row is not None
            ids[state] = row[0]
            if state == "pending":
                conn.execute(
                    "INSERT INTO webhook_queues VALUES (%s, %s, %s)", (subscription, entity, now)
                )
        for state, outcome in (("pending", "http_error"), ("delivered", "delivered")):
            conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at,"
                " outcome, latency_ms) VALUES (%s, %s, %s, %s, 1)",
                (ids[state], subscription, now, outcome),
            )
        conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,"
            " latency_ms) SELECT %s, %s, %s, 'http_error', 1 FROM generate_series(1, 8)",
            (ids["failed"], subscription, now),
        )
        apply(conn)

        def states() -> dict[int, str]:
            rows = conn.execute(f"SELECT d.id, s.state FROM {WITH_STATE}").fetchall()
            return dict(rows)

        assert states() == {ids[state]: state for state in old}
        pending = conn.execute(
            "SELECT delivery_id, attempts, next_attempt_at FROM webhook_pending"
        ).fetchall()
        assert pending == [(ids["pending"], 1, retry_at)]
        assert conn.execute("SELECT reason FROM webhook_cancellations").fetchall() == [
            ("the webhook was disabled",)
        ]
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'webhook_deliveries'"
            )
        }
        assert not columns & {"state", "attempts", "finished_at", "last_error"}
        assert "enqueued_at" in columns
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'webhook_attempts'"
        ).fetchall()
        assert [(name, definition.split(" USING ")[1]) for name, definition in indexes] == [
            ("webhook_attempts_pkey", "btree (delivery_id, id)")
        ]

        apply(conn)  # the next start: nothing to migrate, nothing changes
        assert states() == {ids[state]: state for state in old}
        # The pending delivery is claimable as the head of its queue.
        claims = conn.execute(
            CLAIM, {"now": now, "lease_until": now + timedelta(seconds=15), "limit": 10}
        ).fetchall()
        assert [(row[2], row[8]) for row in claims] == [(ids["pending"], 1)]
