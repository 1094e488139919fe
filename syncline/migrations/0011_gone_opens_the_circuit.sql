-- A 410 opens the endpoint's circuit at once. The worker that got it disables the webhook,
-- which cancels the webhook's queued deliveries, but that takes a moment (the disable is an
-- event, applied by the subscriber): until then the next delivery of the same record, or of
-- another record, was claimed and sent to the endpoint that had just said it is gone. Held
-- open, the endpoint is passed over by every worker's claim for the breaker's hold, and the
-- worker gives back unsent what it had claimed of it.
--
-- The breaker's step (0006) with one more member per endpoint: `gone`, whether an attempt
-- of the batch was answered 410. A gone endpoint trips open whatever its failure count or
-- its successes in the batch (unless it is open already: it is held then).
CREATE OR REPLACE FUNCTION syncline_webhook_breaker(
    p_endpoints json, p_now timestamptz, p_threshold integer, p_hold float8, p_max_hold float8
) RETURNS uuid[] LANGUAGE sql VOLATILE
AS $body$
INSERT INTO webhook_endpoint_state (subscription_id)
SELECT e.subscription_id FROM json_to_recordset(p_endpoints) AS e(subscription_id uuid)
ORDER BY 1
ON CONFLICT (subscription_id) DO NOTHING;
WITH e AS (
    SELECT * FROM json_to_recordset(p_endpoints)
        AS e(subscription_id uuid, failures integer, recovered boolean, gone boolean)
), n AS (
    SELECT s.subscription_id, s.opened, e.recovered,
        CASE WHEN e.recovered THEN e.failures ELSE s.failures + e.failures END AS failures,
        s.circuit <> 'open' AND (coalesce(e.gone, false) OR e.failures > 0
            AND (s.circuit = 'half_open' OR e.failures + CASE WHEN e.recovered THEN 0
                ELSE s.failures END >= p_threshold)) AS trip
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
