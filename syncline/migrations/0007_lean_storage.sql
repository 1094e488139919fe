-- The event log becomes an index of the event store: a row per public event holds what the
-- filters of /v1/events need, and each envelope is rendered from the event store's row when
-- it is read (projections/events/log.py), by the function that rendered the stored one, so
-- every envelope reads as it did. `envelope`, `event_id`, `entity_type` and
-- `entity_version` go; `event_key` (the event id's first 64 bits, which its text gives
-- back) finds an event by its id with an index a third the size of the text one.
--
-- Indexes: a record's events are found through the event store's primary key
-- (originator_id, originator_version), so `event_log_tenant_entity` goes too.
--
-- The rows move to a new table (a dropped column's bytes stay until the table is
-- rewritten), loaded before its indexes are built, with the table locked throughout.
-- Stop the processes of the previous version first: their event log
-- projection writes, and their API reads, the columns that go.
-- The eight-byte columns come before the text one, so a row needs no alignment padding.
CREATE TABLE event_log_lean (
    tenant_id uuid NOT NULL,
    position bigint NOT NULL,  -- the event's notification id: commit order
    occurred_at timestamptz NOT NULL,
    event_key bigint NOT NULL,  -- the first 64 bits of the event id (`evt_` + 32 hex digits)
    entity_id uuid NOT NULL,
    type text NOT NULL
);
INSERT INTO event_log_lean (tenant_id, position, occurred_at, event_key, entity_id, type)
SELECT tenant_id, position, occurred_at, ('x' || substr(event_id, 5, 16))::bit(64)::bigint,
       entity_id, type
FROM event_log
ORDER BY position;
DROP TABLE event_log;
ALTER TABLE event_log_lean RENAME TO event_log;
ALTER TABLE event_log ADD CONSTRAINT event_log_pkey PRIMARY KEY (tenant_id, position);
CREATE INDEX event_log_event_key ON event_log (event_key);
CREATE INDEX event_log_tenant_type ON event_log (tenant_id, type, position);
CREATE INDEX event_log_tenant_occurred ON event_log (tenant_id, occurred_at, position);

-- A record's id is unique across tenants (it is the event store's aggregate id), so the
-- change feed's upsert needs no tenant in its key: half the key, and with time-ordered ids
-- (UUIDv7, domain/ids.py) new keys land on the index's right-hand page.
ALTER TABLE changes DROP CONSTRAINT changes_pkey;
ALTER TABLE changes ADD CONSTRAINT changes_pkey PRIMARY KEY (id);
