-- The delivery portal's reads: each attempt's answer, per-endpoint 24-hour statistics,
-- filtered delivery pages and the operator's tenant search.

-- What the endpoint answered, captured capped by the worker (delivery/response.py): its
-- headers as [[name, value], …], the first 4 KiB of its body as text, and whether the body
-- was longer. NULL for attempts without an answer (a timeout, a refused connection).
-- And the headers the attempt was sent with (delivery/headers.py), [[name, value], …]: the
-- signatures (HMACs, never the secret), timestamp, ids, content type, user agent. NULL for
-- attempts never sent (the SSRF guard refused the address, no secret to sign with).
ALTER TABLE webhook_attempts
    ADD COLUMN request_headers json,
    ADD COLUMN response_headers json,
    ADD COLUMN response_body text,
    ADD COLUMN response_truncated boolean;

-- An endpoint's attempts by time, for its 24-hour success rate and latency percentiles
-- (delivery/stats.py); outcome and latency ride along so the statistics read only the index.
CREATE INDEX webhook_attempts_subscription_time
    ON webhook_attempts (subscription_id, attempted_at) INCLUDE (outcome, latency_ms);

-- Failed attempts by endpoint, newest delivery first: the candidates of the deliveries page's
-- `status=failed` filter (delivery/listing.py), which would otherwise derive every
-- delivery's state to find the few that failed.
CREATE INDEX webhook_attempts_failures
    ON webhook_attempts (subscription_id, delivery_id) WHERE outcome <> 'delivered';

-- A delivery by its public id, for its page, its attempts and "retry now" (delivery/attempts.py).
CREATE INDEX webhook_deliveries_public_id ON webhook_deliveries (public_id);

-- The deliveries page filtered by event type, newest first (delivery/listing.py).
CREATE INDEX webhook_deliveries_type ON webhook_deliveries (subscription_id, event_type, id);

-- The operator's tenant search: a case-insensitive name prefix (projections/tenants/search.py).
CREATE INDEX tenants_name_prefix ON tenants (lower(name) text_pattern_ops);

-- The settle function records the request's headers and the answer with each attempt.
ALTER TYPE webhook_settle_result
    ADD ATTRIBUTE request_headers json,
    ADD ATTRIBUTE response_headers json,
    ADD ATTRIBUTE response_body text,
    ADD ATTRIBUTE response_truncated boolean;
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
PERFORM 1 FROM webhook_queues q JOIN unnest(v_results) AS r
    ON q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
ORDER BY q.subscription_id, q.entity_id
FOR UPDATE OF q;
WITH r AS (SELECT * FROM unnest(v_results) AS r),
attempts AS (
    INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,
        status_code, latency_ms, error, request_headers, response_headers, response_body,
        response_truncated)
    SELECT delivery_id, subscription_id, attempted_at, outcome, status_code, latency_ms, error,
        request_headers, response_headers, response_body, response_truncated
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
