-- Plan the webhook worker's settlement and circuit-breaker statements once per session.
--
-- Both run once per settled batch of deliveries. The breaker's step was a SQL function,
-- whose statements PostgreSQL (before 18) plans again at every call; the settlement's
-- PL/pgSQL statements are cached, but their plans were made for each call's values (a
-- plan for the values wins while PostgreSQL estimates a generic plan dearer, which for an
-- array of a batch's rows it always does). Measured with pg_stat_statements while a worker
-- drained 10,000 deliveries: about 50 µs of planning per delivery, more than those
-- statements took to run. Generic plans are what they need: every statement joins the
-- batch's rows to their keys' indexes (hash and merge joins are off in the settlement).
--
-- The breaker's step as it was (0011), in PL/pgSQL, whose statements keep their plans.
CREATE OR REPLACE FUNCTION syncline_webhook_breaker(
    p_endpoints json, p_now timestamptz, p_threshold integer, p_hold float8, p_max_hold float8
) RETURNS uuid[] LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $body$
DECLARE
    tripped uuid[];
BEGIN
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
SELECT coalesce(array_agg(subscription_id ORDER BY subscription_id), '{}') INTO tripped
FROM stepped
WHERE trip;
RETURN tripped;
END
$body$;

ALTER FUNCTION syncline_webhook_settle(json, json, json)
    SET plan_cache_mode = force_generic_plan;
