-- The baseline: the schema as the first versioned release creates it.
--
-- Every object is created only where missing (and the settle function's result type and
-- the functions are recreated), so a database set up before migrations were versioned is
-- adopted as it stands; on an empty database this is plain creation. The event store's own
-- tables (`syncline_events` and its index) are the eventsourcing library's: it creates them.

-- Which migrations have run (written by syncline.migrate, one row per file).
CREATE TABLE IF NOT EXISTS syncline_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- == processes ==============================================================================

-- Random secrets made on first use and shared by every process (the cursor key).
CREATE TABLE IF NOT EXISTS server_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Group commit (syncline.group_commit): what the library's insert does — the same exclusive
-- lock held to commit, so ids follow commit order, the same NOTIFY, the same rows — for a
-- whole batch of saves in one statement. Names resolve in the caller's search_path, as the
-- library's own statements do.
CREATE OR REPLACE FUNCTION syncline_insert_events(
    ids uuid[], versions bigint[], topics text[], states bytea[]
) RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    -- The same lock as eventsourcing's insert: held to commit, so ids follow commit order.
    LOCK TABLE syncline_events IN EXCLUSIVE MODE;
    NOTIFY syncline_events;
    RETURN QUERY
        INSERT INTO syncline_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
END
$body$;

-- == projections ============================================================================

-- Each projection's position in the log, committed with its rows. A runner that fails (an
-- event it cannot process, say) says so in `failing_since`/`last_error` until it gets
-- through; /metrics reports it.
CREATE TABLE IF NOT EXISTS projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    failing_since timestamptz,
    last_error text
);

-- records: one row per live record, with its latest representation.
CREATE TABLE IF NOT EXISTS contacts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data json NOT NULL  -- json, not jsonb: keeps the representation byte for byte
);
CREATE INDEX IF NOT EXISTS contacts_tenant_created ON contacts (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS contacts_tenant_updated ON contacts (tenant_id, updated_at, id);

CREATE TABLE IF NOT EXISTS orders (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data json NOT NULL  -- json, not jsonb: keeps the representation byte for byte
);
CREATE INDEX IF NOT EXISTS orders_tenant_created ON orders (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS orders_tenant_updated ON orders (tenant_id, updated_at, id);

-- tenants: tenants and credential metadata for the operator's listings.
CREATE TABLE IF NOT EXISTS tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tenants_created ON tenants (created_at, id);

CREATE TABLE IF NOT EXISTS credentials (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    kind text NOT NULL,
    public_id text NOT NULL,
    scopes text[] NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    rotated_at timestamptz,
    created_at timestamptz NOT NULL,
    expired_at timestamptz
);
CREATE INDEX IF NOT EXISTS credentials_tenant ON credentials (tenant_id, created_at);
-- The expiry sweep looks for live credentials past their expiry.
CREATE INDEX IF NOT EXISTS credentials_expiring ON credentials (expires_at)
    WHERE revoked_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL;

-- changes: the change feed's rows, one per record, keyed by its last change.
CREATE TABLE IF NOT EXISTS changes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    resource_type text NOT NULL,
    version bigint NOT NULL,
    deleted boolean NOT NULL,
    -- when, as the feed serves it: ISO 8601 in UTC (the check turns away a timestamptz cast
    -- to text in a session's zone, "… 17:11:14.123456+01").
    changed_at text NOT NULL CONSTRAINT changes_changed_at_utc CHECK (changed_at LIKE '%Z'),
    event_type text NOT NULL,
    data json,  -- the representation, byte for byte; null for a tombstone
    position bigint NOT NULL,  -- notification id of the record's last change
    PRIMARY KEY (tenant_id, id)
);
-- A page is a range scan of one of these, whatever the size of the log.
CREATE UNIQUE INDEX IF NOT EXISTS changes_tenant_position ON changes (tenant_id, position);
CREATE INDEX IF NOT EXISTS changes_tenant_type_position
    ON changes (tenant_id, resource_type, position);

-- events: every public event of a tenant with its envelope, in log order.
CREATE TABLE IF NOT EXISTS event_log (
    tenant_id uuid NOT NULL,
    position bigint NOT NULL,  -- the event's notification id: commit order
    event_id text NOT NULL,
    type text NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid NOT NULL,
    entity_version bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    envelope json NOT NULL,  -- domain.envelope.envelope(), cursor left empty
    PRIMARY KEY (tenant_id, position)
);
CREATE UNIQUE INDEX IF NOT EXISTS event_log_tenant_event_id ON event_log (tenant_id, event_id);
CREATE INDEX IF NOT EXISTS event_log_tenant_entity ON event_log (tenant_id, entity_id, position);
CREATE INDEX IF NOT EXISTS event_log_tenant_type ON event_log (tenant_id, type, position);
CREATE INDEX IF NOT EXISTS event_log_tenant_occurred
    ON event_log (tenant_id, occurred_at, position);

-- == delivery ===============================================================================

-- The delivery subscriber's read model of webhook subscriptions.
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
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_tenant
    ON webhook_subscriptions (tenant_id, created_at, id);

-- One event, rendered, for one subscription; written once. `public_id` is derived from the
-- unique key, so it needs no index of its own.
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
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_list ON webhook_deliveries (subscription_id, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_enqueued ON webhook_deliveries (enqueued_at);

-- The hot, narrow job state: a row per delivery not yet delivered or given up, deleted when
-- it is. Only the key is indexed, so a retry's update is HOT.
CREATE TABLE IF NOT EXISTS webhook_pending (
    subscription_id uuid NOT NULL,
    entity_id uuid NOT NULL,
    delivery_id bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, entity_id, delivery_id)
);

-- Deliveries given up because their webhook was disabled or deleted.
CREATE TABLE IF NOT EXISTS webhook_cancellations (
    delivery_id bigint PRIMARY KEY,
    cancelled_at timestamptz NOT NULL,
    reason text NOT NULL
);

-- One row per non-empty queue (subscription, entity). A claim leases a queue by setting
-- `leased_until`, which no index covers, so the lease (and moving on to the next delivery,
-- which clears it) are HOT updates with room on the page (fillfactor 50); only a retry
-- moves `next_attempt_at`.
CREATE TABLE IF NOT EXISTS webhook_queues (
    subscription_id uuid NOT NULL,
    entity_id uuid NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    leased_until timestamptz,
    PRIMARY KEY (subscription_id, entity_id)
) WITH (fillfactor = 50);
CREATE INDEX IF NOT EXISTS webhook_queues_due ON webhook_queues (next_attempt_at);

-- Append-only, one index: a delivery's attempts in order. They are purged with their
-- delivery (delivery.jobs.PURGE_DELIVERIES), not by time.
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
);

CREATE TABLE IF NOT EXISTS webhook_endpoint_health (
    subscription_id uuid PRIMARY KEY,
    failing_since timestamptz,
    last_success_at timestamptz,
    last_failure_at timestamptz
);

CREATE TABLE IF NOT EXISTS webhook_metrics (
    name text NOT NULL,
    label text NOT NULL,
    value double precision NOT NULL,
    PRIMARY KEY (name, label)
);

-- Settling a batch of claimed queues is one call of syncline_webhook_settle(), a single
-- statement in autocommit: one round trip, no BEGIN/COMMIT on the client. Its `p_results`
-- (JSON: msgspec encodes it far faster than psycopg adapts arrays) has one object per
-- claimed queue, with its head's attempt when there was one; it is parsed once, into an
-- array of this type, that the four statements read. The statements are those of
-- delivery.outbox (LOCK_QUEUES, SETTLE, DROP_EMPTY_QUEUES, RELEASE_QUEUES), with the results
-- as `unnest(v_results) AS r`; tests/integration/test_delivery_settle_plan.py checks that
-- they agree. Hash and merge joins are off: a batch is a few windows of rows, so index
-- lookups are always right, where the planner, expecting 100 rows of a recordset, would
-- hash-join a scan of every queue row.
DROP FUNCTION IF EXISTS syncline_webhook_settle(json, json, json);
DROP TYPE IF EXISTS webhook_settle_result;
CREATE TYPE webhook_settle_result AS (subscription_id uuid, entity_id uuid,
    delivery_id bigint, attempted_at timestamptz, outcome text, status_code integer,
    latency_ms float8, error text, retry_at timestamptz, moved_on boolean);
CREATE FUNCTION syncline_webhook_settle(
    p_results json, p_health json, p_metrics json
) RETURNS void LANGUAGE plpgsql VOLATILE
SET enable_hashjoin = off SET enable_mergejoin = off
AS $body$
DECLARE
    v_results webhook_settle_result[] := ARRAY(
        SELECT r FROM json_populate_recordset(NULL::webhook_settle_result, p_results) r
    );
BEGIN
PERFORM 1 FROM webhook_queues q JOIN unnest(v_results) AS r
    ON q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
ORDER BY q.subscription_id, q.entity_id
FOR UPDATE OF q;
WITH r AS (SELECT * FROM unnest(v_results) AS r),
attempts AS (
    INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,
        status_code, latency_ms, error)
    SELECT delivery_id, subscription_id, attempted_at, outcome, status_code, latency_ms, error
    FROM r WHERE delivery_id IS NOT NULL
),
finished AS (
    DELETE FROM webhook_pending p USING r
    WHERE r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
retried AS (
    UPDATE webhook_pending p SET attempts = p.attempts + 1, next_attempt_at = r.retry_at
    FROM r WHERE NOT r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
health AS (
    INSERT INTO webhook_endpoint_health AS h (subscription_id, failing_since, last_success_at,
        last_failure_at)
    SELECT * FROM json_to_recordset(p_health::json) AS e(subscription_id uuid,
        failing_since timestamptz, last_success_at timestamptz, last_failure_at timestamptz)
    ORDER BY subscription_id
    ON CONFLICT (subscription_id) DO UPDATE SET
        failing_since = CASE
            WHEN excluded.last_success_at IS NOT NULL THEN excluded.failing_since
            ELSE coalesce(h.failing_since, excluded.failing_since) END,
        last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
        last_failure_at = coalesce(excluded.last_failure_at, h.last_failure_at)
)
INSERT INTO webhook_metrics AS m (name, label, value)
SELECT * FROM json_to_recordset(p_metrics::json) AS i(name text, label text, value float8)
ORDER BY name, label
ON CONFLICT (name, label) DO UPDATE SET value = m.value + excluded.value;
DELETE FROM webhook_queues q USING unnest(v_results) AS r
WHERE r.moved_on AND q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
AND NOT EXISTS (
    SELECT 1 FROM webhook_pending p
    WHERE p.subscription_id = q.subscription_id AND p.entity_id = q.entity_id
);
UPDATE webhook_queues q SET leased_until = NULL,
    next_attempt_at = coalesce(r.retry_at, q.next_attempt_at)
FROM unnest(v_results) AS r WHERE q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id;
END
$body$;

-- == api ====================================================================================

-- OAuth access tokens, looked up by the digest of the token.
CREATE TABLE IF NOT EXISTS access_tokens (
    token_hash bytea PRIMARY KEY,
    client_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    scopes text[] NOT NULL,
    generation integer NOT NULL,
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS access_tokens_expiry ON access_tokens (expires_at);

-- Token buckets of the rate limiter: unlogged (a crash refills them, which is harmless).
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_buckets (
    key text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL,
    granted integer NOT NULL
);
