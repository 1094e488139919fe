"""The delivery tables' DDL, with the settle function and the type it parses results into.

Applied at start, in the schema transaction (`DeliveryProjection.schema`). The function is
built from the queue's settle statements (`delivery.queue`), so it runs exactly what the
plan test explains.
"""

from __future__ import annotations

from delivery.queue import DROP_EMPTY_QUEUES, LOCK_QUEUES, RELEASE_QUEUES, RESULTS, SETTLE

# Until 0.x the mutable state (state, attempts, next try, error) was kept in
# `webhook_deliveries` itself, so every settle rewrote the wide row (body included) and its
# indexes. A database from then is migrated in place, once, in the schema transaction:
# pending deliveries become pending rows, cancelled ones cancellation rows (delivered and
# failed ones are derived from their attempts), then the old columns and indexes go.
MIGRATE_MUTABLE_DELIVERIES = """
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_attribute WHERE attrelid = 'webhook_deliveries'::regclass
        AND attname = 'state' AND NOT attisdropped
    ) THEN
        INSERT INTO webhook_pending (subscription_id, entity_id, delivery_id, attempts,
            next_attempt_at)
        SELECT subscription_id, entity_id, id, attempts, coalesce(next_attempt_at, created_at)
        FROM webhook_deliveries WHERE state = 'pending'
        ON CONFLICT DO NOTHING;
        INSERT INTO webhook_cancellations (delivery_id, cancelled_at, reason)
        SELECT id, coalesce(finished_at, now()), coalesce(last_error, 'cancelled')
        FROM webhook_deliveries WHERE state = 'cancelled'
        ON CONFLICT DO NOTHING;
        DROP INDEX IF EXISTS webhook_deliveries_queue;
        DROP INDEX IF EXISTS webhook_deliveries_finished;
        ALTER TABLE webhook_deliveries
            DROP CONSTRAINT IF EXISTS webhook_deliveries_public_id_key,
            ADD COLUMN IF NOT EXISTS enqueued_at timestamptz NOT NULL DEFAULT now(),
            DROP COLUMN state, DROP COLUMN attempts, DROP COLUMN next_attempt_at,
            DROP COLUMN last_attempt_at, DROP COLUMN finished_at, DROP COLUMN last_error;
    END IF;
END
$$
"""

# Until 0.x attempts had three indexes: (id), (delivery_id, id) and (attempted_at).
MIGRATE_ATTEMPTS_KEY = """
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index WHERE indexrelid = 'webhook_attempts_pkey'::regclass
        AND indnatts = 1
    ) THEN
        ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_pkey,
            ADD PRIMARY KEY (delivery_id, id);
        DROP INDEX IF EXISTS webhook_attempts_delivery;
        DROP INDEX IF EXISTS webhook_attempts_time;
    END IF;
END
$$
"""

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS webhook_subscriptions (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        url text NOT NULL,
        event_types text[] NOT NULL,
        status text NOT NULL,
        secret text NOT NULL,
        previous_secret text,
        previous_secret_expires_at timestamptz,
        version bigint NOT NULL,
        created_at timestamptz NOT NULL,
        created_position bigint NOT NULL,
        enabled_at timestamptz NOT NULL,
        data json NOT NULL  -- the public representation, for lists
    )
    """,
    "CREATE INDEX IF NOT EXISTS webhook_subscriptions_tenant"
    " ON webhook_subscriptions (tenant_id, created_at, id)",
    # Written once. `public_id` is derived from the unique key, so it needs no index of its own.
    """
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id bigserial PRIMARY KEY,
        public_id uuid NOT NULL,
        subscription_id uuid NOT NULL,
        tenant_id uuid NOT NULL,
        entity_id uuid NOT NULL,
        position bigint NOT NULL,  -- the event's notification id
        enqueued_position bigint NOT NULL,  -- the log's head when it was enqueued
        origin text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        correlation_id text NOT NULL,
        body bytea NOT NULL,
        created_at timestamptz NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (subscription_id, position, origin)
    )
    """,
    # The hot, narrow job state: a row per delivery not yet delivered or given up, deleted
    # when it is. Only the key is indexed, so a retry's update is HOT.
    """
    CREATE TABLE IF NOT EXISTS webhook_pending (
        subscription_id uuid NOT NULL,
        entity_id uuid NOT NULL,
        delivery_id bigint NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        PRIMARY KEY (subscription_id, entity_id, delivery_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_cancellations (
        delivery_id bigint PRIMARY KEY,
        cancelled_at timestamptz NOT NULL,
        reason text NOT NULL
    )
    """,
    MIGRATE_MUTABLE_DELIVERIES,
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_list"
    " ON webhook_deliveries (subscription_id, id)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_enqueued ON webhook_deliveries (enqueued_at)",
    # A claim leases a queue by setting `leased_until`, which no index covers, so the lease
    # (and moving on to the next delivery, which clears it) are HOT updates with room on
    # the page (fillfactor 50); only a retry moves `next_attempt_at`.
    """
    CREATE TABLE IF NOT EXISTS webhook_queues (
        subscription_id uuid NOT NULL,
        entity_id uuid NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        leased_until timestamptz,
        PRIMARY KEY (subscription_id, entity_id)
    ) WITH (fillfactor = 50)
    """,
    # Until 0.x a lease moved `next_attempt_at` (a non-HOT update, two index entries).
    """
    DO $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute WHERE attrelid = 'webhook_queues'::regclass
            AND attname = 'leased_until' AND NOT attisdropped
        ) THEN
            ALTER TABLE webhook_queues ADD COLUMN leased_until timestamptz,
                SET (fillfactor = 50);
        END IF;
    END
    $$
    """,
    "CREATE INDEX IF NOT EXISTS webhook_queues_due ON webhook_queues (next_attempt_at)",
    # Append-only, one index: a delivery's attempts in order. They are purged with their
    # delivery (`jobs.PURGE_DELIVERIES`), not by time.
    """
    CREATE TABLE IF NOT EXISTS webhook_attempts (
        id bigserial,
        delivery_id bigint NOT NULL,
        subscription_id uuid NOT NULL,
        attempted_at timestamptz NOT NULL,
        outcome text NOT NULL,
        status_code integer,
        latency_ms double precision NOT NULL,
        error text,
        PRIMARY KEY (delivery_id, id)
    )
    """,
    MIGRATE_ATTEMPTS_KEY,
    """
    CREATE TABLE IF NOT EXISTS webhook_endpoint_health (
        subscription_id uuid PRIMARY KEY,
        failing_since timestamptz,
        last_success_at timestamptz,
        last_failure_at timestamptz
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS webhook_metrics (
        name text NOT NULL,
        label text NOT NULL,
        value double precision NOT NULL,
        PRIMARY KEY (name, label)
    )
    """,
]


# Settling takes JSON arrays (msgspec encodes them far faster than psycopg adapts arrays):
# `results` has one object per claimed queue, with its head's attempt when there was one.
# The settle function parses it once, into an array of this type, that its statements read
# (parsing 64 rows of JSON costs PostgreSQL about as much as the rest of a statement).
RESULT_TYPE = """
DO $$
BEGIN
    IF to_regtype('webhook_settle_result') IS NULL THEN
        CREATE TYPE webhook_settle_result AS (subscription_id uuid, entity_id uuid,
            delivery_id bigint, attempted_at timestamptz, outcome text, status_code integer,
            latency_ms float8, error text, retry_at timestamptz, moved_on boolean);
    END IF;
END
$$
"""
SCHEMA.append(RESULT_TYPE)


def _plpgsql(statement: str) -> str:
    """A statement above as the settle function runs it: the results are its parsed array,
    the other parameters its arguments."""
    statement = statement.replace(RESULTS, "unnest(v_results) AS r")
    for name in ("health", "metrics"):
        statement = statement.replace(f"%({name})s", f"p_{name}")
    statement = statement.strip()
    if statement.startswith("SELECT"):  # a query run for its locks
        statement = "PERFORM" + statement.removeprefix("SELECT")
    return statement + ";"


SETTLE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION syncline_webhook_settle(
    p_results json, p_health json, p_metrics json
) RETURNS void LANGUAGE plpgsql VOLATILE
SET enable_hashjoin = off SET enable_mergejoin = off
AS $body$
DECLARE
    v_results webhook_settle_result[] := ARRAY(
        SELECT r FROM json_populate_recordset(NULL::webhook_settle_result, p_results) r
    );
BEGIN
{_plpgsql(LOCK_QUEUES)}
{_plpgsql(SETTLE)}
{_plpgsql(DROP_EMPTY_QUEUES)}
{_plpgsql(RELEASE_QUEUES)}
END
$body$
"""
SCHEMA.append(SETTLE_FUNCTION)
