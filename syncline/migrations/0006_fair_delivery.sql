-- Fair webhook delivery (docs/internals/webhook-delivery.md, "Fair scheduling"): the claim
-- serves endpoints round-robin, each up to its in-flight limit, and skips an endpoint whose
-- circuit breaker is open.

-- Each endpoint's due queues, oldest first: the claim reads at most a few rows of each
-- endpoint with work, however long its backlog. It replaces the global due-order index (the
-- claim no longer takes queues in one global order). A lease changes neither column, so
-- leases and releases stay heap-only updates.
CREATE INDEX webhook_queues_endpoint_due ON webhook_queues (subscription_id, next_attempt_at);
DROP INDEX webhook_queues_due;

-- One row per endpoint (subscription) ever claimed: its place in the round-robin and its
-- circuit breaker. `held_until`: while `open`, its deliveries are not claimed before then;
-- while `half_open`, the lease of the one probe in flight. `failures` counts failed
-- attempts since the last success; `opened` how often it opened in a row (the hold doubles).
CREATE TABLE webhook_endpoint_state (
    subscription_id uuid PRIMARY KEY,
    last_served_at timestamptz NOT NULL DEFAULT '-infinity',
    circuit text NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half_open')),
    failures integer NOT NULL DEFAULT 0,
    opened integer NOT NULL DEFAULT 0,
    opened_at timestamptz,
    held_until timestamptz
);

-- The breaker's step after a settled batch, called in the same statement as
-- syncline_webhook_settle(). `p_endpoints`: per endpoint of the batch, the failed attempts
-- after its last success in the batch (`failures`) and whether any attempt succeeded
-- (`recovered`). An endpoint trips open when its failures since the last success reach
-- `p_threshold`, or when the probe of a half-open endpoint fails: it is then held for
-- `p_hold` seconds, doubled each time it opens again in a row, at most `p_max_hold`. A
-- success closes it. Failures of requests sent before it opened do not extend the hold.
-- Answers the endpoints it opened (the worker gives back what it claimed of them unsent).
CREATE FUNCTION syncline_webhook_breaker(
    p_endpoints json, p_now timestamptz, p_threshold integer, p_hold float8, p_max_hold float8
) RETURNS uuid[] LANGUAGE sql VOLATILE
AS $body$
INSERT INTO webhook_endpoint_state (subscription_id)
SELECT e.subscription_id FROM json_to_recordset(p_endpoints) AS e(subscription_id uuid)
ORDER BY 1
ON CONFLICT (subscription_id) DO NOTHING;
WITH e AS (
    SELECT * FROM json_to_recordset(p_endpoints)
        AS e(subscription_id uuid, failures integer, recovered boolean)
), n AS (
    SELECT s.subscription_id, s.opened, e.recovered,
        CASE WHEN e.recovered THEN e.failures ELSE s.failures + e.failures END AS failures,
        s.circuit <> 'open' AND e.failures > 0
            AND (s.circuit = 'half_open' OR e.failures + CASE WHEN e.recovered THEN 0
                ELSE s.failures END >= p_threshold) AS trip
    FROM webhook_endpoint_state s JOIN e USING (subscription_id)
    ORDER BY s.subscription_id
    FOR UPDATE OF s
), stepped AS (
UPDATE webhook_endpoint_state s SET
    circuit = CASE WHEN n.trip THEN 'open' WHEN n.recovered THEN 'closed' ELSE s.circuit END,
    failures = CASE WHEN n.trip THEN 0 ELSE n.failures END,
    opened = CASE WHEN n.trip THEN s.opened + 1 WHEN n.recovered THEN 0 ELSE s.opened END,
    opened_at = CASE WHEN n.trip THEN p_now WHEN n.recovered THEN NULL ELSE s.opened_at END,
    held_until = CASE
        WHEN n.trip THEN p_now + make_interval(secs => least(p_max_hold, p_hold * 2 ^ s.opened))
        WHEN n.recovered THEN NULL
        ELSE s.held_until END
FROM n WHERE s.subscription_id = n.subscription_id
RETURNING s.subscription_id, n.trip
)
SELECT coalesce(array_agg(subscription_id ORDER BY subscription_id), '{}') FROM stepped
WHERE trip;
$body$;
