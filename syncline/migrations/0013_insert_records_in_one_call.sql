-- A batch of records' changes written by one call: the events' insert and the records
-- upsert together (syncline.inline, projections/records/projection.py).
--
-- The group commit's flusher sent them as a pipeline of two statements: four sends and
-- seven waits for the answer, each a release and retake of the interpreter lock beside the
-- API's event loop. One call is one send and one or two waits. The upsert runs inside the
-- function, after syncline_insert_events_inline() has taken the event store's lock: a
-- single statement naming `records` itself would lock it first, before the event store,
-- the reverse of every other writer's order (a rebuild locks the event store, then
-- truncates `records`), and the two could deadlock.
--
-- Each record's row (`r_places`: minus the place of its last event in the batch, -1 for
-- the first) takes that event's notification id from the insert's answer, which is in the
-- batch's order. The tenants' feed long-polls are notified as the records projection's own
-- upsert does (`channel`, one notification per tenant). Answers the notification ids.
CREATE FUNCTION syncline_insert_records(
    ids uuid[], versions bigint[], topics text[], states bytea[], inline_names text[],
    r_ids uuid[], r_tenants uuid[], r_versions bigint[], r_places bigint[],
    r_created timestamptz[], r_updated timestamptz[], r_deleted boolean[], r_resources text[],
    r_event_types text[], r_changed text[], r_data json[], channel text, tenants text[]
) RETURNS SETOF bigint LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $body$
DECLARE
    inserted bigint[];
BEGIN
    inserted := ARRAY(
        SELECT n FROM syncline_insert_events_inline(ids, versions, topics, states, inline_names)
            AS n ORDER BY n
    );
    -- Every event has its id, and every row's place is one of theirs: a row placed wrong
    -- would take another event's position.
    IF cardinality(inserted) <> cardinality(ids) OR EXISTS (
        SELECT FROM unnest(r_places) AS p WHERE p NOT BETWEEN -cardinality(inserted) AND -1
    ) THEN
        RAISE EXCEPTION 'a record''s place is not one of the batch''s % events',
            cardinality(inserted) USING ERRCODE = 'XX000';
    END IF;
    INSERT INTO records AS r (
        id, tenant_id, version, position, created_at, updated_at, deleted, resource,
        event_type, changed_at, data
    )
    SELECT u.id, u.tenant_id, u.version, inserted[-u.place], u.created_at, u.updated_at,
        u.deleted, u.resource, u.event_type, u.changed_at, u.data
    FROM unnest(
        r_ids, r_tenants, r_versions, r_places, r_created, r_updated, r_deleted, r_resources,
        r_event_types, r_changed, r_data
    ) AS u(id, tenant_id, version, place, created_at, updated_at, deleted, resource,
        event_type, changed_at, data)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, position = excluded.position,
        created_at = excluded.created_at, updated_at = excluded.updated_at,
        deleted = excluded.deleted, event_type = excluded.event_type,
        changed_at = excluded.changed_at, data = excluded.data
    WHERE r.version < excluded.version;
    PERFORM pg_notify(channel, t) FROM unnest(tenants) AS t;
    RETURN QUERY SELECT unnest(inserted);
END
$body$;
