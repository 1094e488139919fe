-- Inline projections: the read models the API lists from are written in the transaction
-- that appends their events (syncline.group_commit), so a read that starts after a write
-- returned sees it. Processes of the previous version must be stopped first: their group
-- commit writes events without the read models, and they read `contacts` and `orders`.

-- == records: one table for every resource ===================================================

CREATE TABLE records (
    resource text NOT NULL,  -- the resource name (`contact`, `order`): domain.resources
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data json NOT NULL  -- json, not jsonb: keeps the representation byte for byte
);
INSERT INTO records (resource, id, tenant_id, version, created_at, updated_at, data)
    SELECT 'contact', id, tenant_id, version, created_at, updated_at, data FROM contacts;
INSERT INTO records (resource, id, tenant_id, version, created_at, updated_at, data)
    SELECT 'order', id, tenant_id, version, created_at, updated_at, data FROM orders;
DROP TABLE contacts;
DROP TABLE orders;
-- A list page is a range scan of the first (keyset on created_at, id); `updated_since`
-- pages use the second when the filter is selective.
CREATE INDEX records_tenant_resource_created ON records (tenant_id, resource, created_at, id);
CREATE INDEX records_tenant_resource_updated ON records (tenant_id, resource, updated_at, id);

-- == the group commit's insert, with the inline projections' positions ========================

-- Every inline projection has its tracking row from the start (at 0 on a new database, where
-- 0 is the head; an existing database keeps its positions).
INSERT INTO projection_tracking (name) VALUES ('records'), ('tenants') ON CONFLICT DO NOTHING;

-- What syncline_insert_events() does, and within the same transaction (under the same
-- exclusive lock, so commit order is id order) moves each of `inline_names` from the head before
-- the insert to the last id inserted. The caller writes those projections' rows after this
-- call, before its commit. A projection that is not at that head (behind: a rebuild, a
-- database written by an older version) raises SQLSTATE SYN01 and changes nothing; the
-- caller then writes the batch without it, and its runner catches it up.
CREATE FUNCTION syncline_insert_events_inline(
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
    PERFORM pg_notify('syncline_auth', changed.id::text)
        FROM unnest(ids, topics) AS changed(id, topic)
        WHERE changed.topic LIKE 'domain.credential:%' OR changed.topic LIKE 'domain.tenant:%';
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

-- == webhooks: the API's list, beside the delivery subscriber's own state ===================

-- The API lists webhook subscriptions from here (projections/webhooks/, inline). The
-- delivery subscriber keeps `webhook_subscriptions`, its subscription state at each event's
-- log position, for fan-out and sending; it is unchanged.
CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    status text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    data json NOT NULL  -- the public representation (never the secret)
);
CREATE INDEX webhooks_tenant_created ON webhooks (tenant_id, created_at, id);
INSERT INTO webhooks (id, tenant_id, status, version, created_at, data)
    SELECT id, tenant_id, status, version, created_at, data FROM webhook_subscriptions;
-- As far as the subscriber had written its table.
INSERT INTO projection_tracking (name, position)
    SELECT 'webhooks', coalesce((SELECT position FROM projection_tracking WHERE name = 'deliveries'), 0)
ON CONFLICT DO NOTHING;
