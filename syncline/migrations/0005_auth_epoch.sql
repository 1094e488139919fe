-- Revocation, rotation, suspension and scope changes take effect in every API process
-- before the operator's call returns.
--
-- auth_epoch counts credential and tenant changes: the event-store insert bumps it in the
-- transaction that records one, and sends the new value with each change's notification
-- (`NOTIFY syncline_auth, '<aggregate id> <epoch>'`). The insert holds the exclusive lock
-- on syncline_events until commit, so epochs follow commit order.
CREATE TABLE auth_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch bigint NOT NULL
);
INSERT INTO auth_epoch (epoch) VALUES (0);

-- One row per API process's listening session (by backend pid and start, so a row whose
-- session is gone is recognised as such): the newest epoch whose changes that process has
-- dropped from its authentication cache. An operator's change waits until every live
-- session's row has reached its epoch. Unlogged: after a crash every process reconnects
-- and registers again.
CREATE UNLOGGED TABLE auth_listeners (
    pid integer PRIMARY KEY,
    backend_start timestamptz NOT NULL,
    epoch bigint NOT NULL
);

-- Bumps the epoch and notifies each changed credential or tenant, when a batch holds any;
-- both event-store inserts call it, under their exclusive lock.
CREATE FUNCTION syncline_auth_changed(ids uuid[], topics text[]) RETURNS void
LANGUAGE plpgsql AS $body$
DECLARE
    bumped bigint;
BEGIN
    IF EXISTS (
        SELECT FROM unnest(topics) AS t(topic)
        WHERE t.topic LIKE 'domain.credential:%' OR t.topic LIKE 'domain.tenant:%'
    ) THEN
        UPDATE auth_epoch SET epoch = epoch + 1 RETURNING epoch INTO bumped;
        PERFORM pg_notify('syncline_auth', changed.id::text || ' ' || bumped::text)
            FROM unnest(ids, topics) AS changed(id, topic)
            WHERE changed.topic LIKE 'domain.credential:%' OR changed.topic LIKE 'domain.tenant:%';
    END IF;
END
$body$;

CREATE OR REPLACE FUNCTION syncline_insert_events(
    ids uuid[], versions bigint[], topics text[], states bytea[]
) RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
BEGIN
    -- The same lock as eventsourcing's insert: held to commit, so ids follow commit order.
    LOCK TABLE syncline_events IN EXCLUSIVE MODE;
    NOTIFY syncline_events;
    PERFORM syncline_auth_changed(ids, topics);
    RETURN QUERY
        INSERT INTO syncline_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id;
END
$body$;

-- The group commit's insert with inline projections (0004), with the same epoch bump.
CREATE OR REPLACE FUNCTION syncline_insert_events_inline(
    ids uuid[], versions bigint[], topics text[], states bytea[], inline_names text[]
) RETURNS SETOF bigint LANGUAGE plpgsql AS $body$
DECLARE
    head bigint;
    inserted bigint[];
    moved integer;
BEGIN
    LOCK TABLE syncline_events IN EXCLUSIVE MODE;
    SELECT coalesce(max(notification_id), 0) INTO head FROM syncline_events;
    NOTIFY syncline_events;
    PERFORM syncline_auth_changed(ids, topics);
    WITH appended AS (
        INSERT INTO syncline_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(ids, versions, topics, states)
        RETURNING notification_id
    )
    SELECT array_agg(notification_id ORDER BY notification_id) INTO inserted FROM appended;
    IF cardinality(inline_names) > 0 THEN
        UPDATE projection_tracking
            SET position = inserted[cardinality(inserted)], updated_at = now()
            WHERE name = ANY(inline_names) AND position = head;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved <> cardinality(inline_names) THEN
            RAISE EXCEPTION 'an inline projection is not at the head of the log (%)', head
                USING ERRCODE = 'SYN01';
        END IF;
    END IF;
    RETURN QUERY SELECT unnest(inserted);
END
$body$;
