-- Credential and tenant changes reach every API process's authentication cache as they
-- commit: the event-store insert also sends `NOTIFY syncline_auth, '<aggregate id>'` for
-- each credential or tenant event it records (api.auth.AUTH_CHANNEL; PostgreSQL folds
-- repeated payloads of one transaction).
CREATE OR REPLACE FUNCTION syncline_insert_events(
    ids uuid[], versions bigint[], topics text[], states bytea[]
) RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    -- The same lock as eventsourcing's insert: held to commit, so ids follow commit order.
    LOCK TABLE syncline_events IN EXCLUSIVE MODE;
    NOTIFY syncline_events;
    PERFORM pg_notify('syncline_auth', changed.id::text)
        FROM unnest(ids, topics) AS changed(id, topic)
        WHERE changed.topic LIKE 'domain.credential:%' OR changed.topic LIKE 'domain.tenant:%';
    RETURN QUERY
        INSERT INTO syncline_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
END
$body$;
