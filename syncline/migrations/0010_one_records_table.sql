-- One table for a record's latest state: `records` serves the change feed as well as the
-- record lists, so that state is stored once (the feed's `changes` table held it a second
-- time). A row keeps the position of the record's last event and its type; a deleted
-- record stays as a tombstone (`deleted`, no `data`, no `created_at`) for the feed, and the
-- lists leave tombstones out. The records projection writes it inline, in the transaction
-- of the events, with their positions, and sends the feed's per-tenant NOTIFY there.
--
-- The rows are the feed's, as far as the feed's projection had gone: every record's state
-- (or tombstone) at the position of its last change. The records projection is moved to
-- that position, so its runner (`syncline worker`) catches up whatever the group commit
-- wrote after it; until then, lists may show the state at that position. Processes of the
-- previous version must be stopped first: they write `changes` and the old `records`.

ALTER TABLE records RENAME TO records_before_0010;
ALTER INDEX records_pkey RENAME TO records_before_0010_pkey;
DROP INDEX records_tenant_resource_created;
DROP INDEX records_tenant_resource_updated;

-- Fixed-width columns first, `deleted` last: no alignment padding between them.
CREATE TABLE records (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    version bigint NOT NULL,
    position bigint NOT NULL,  -- the notification id of the record's last event
    created_at timestamptz,  -- NULL on a tombstone
    updated_at timestamptz NOT NULL,  -- the time of the last event (lists: `updated_since`)
    resource text NOT NULL,  -- the resource name (`contact`, `order`): domain.resources
    event_type text NOT NULL,  -- the public type of the last event (`contact.updated`)
    -- The same time as the text the feed serves (ISO 8601 in UTC, six fractional digits,
    -- `Z`), written by the projection: a page formats nothing (to_char() of `updated_at`
    -- made a page query dearer by half) for 28 bytes a record.
    changed_at text NOT NULL CONSTRAINT records_changed_at_utc CHECK (changed_at LIKE '%Z'),
    data json,  -- NULL on a tombstone; json, not jsonb: keeps the representation byte for byte
    deleted boolean NOT NULL,
    CONSTRAINT records_tombstone CHECK (
        CASE WHEN deleted THEN data IS NULL AND created_at IS NULL
        ELSE data IS NOT NULL AND created_at IS NOT NULL END
    )
);

INSERT INTO records
    (id, tenant_id, version, position, created_at, updated_at, deleted, resource, event_type,
    changed_at, data)
SELECT id, tenant_id, version, position,
    -- What the projection writes: the state's `created_at`, which the representation shows.
    CASE WHEN NOT deleted THEN (data ->> 'created_at')::timestamptz END,
    changed_at::timestamptz,  -- ISO 8601 with a `Z` (changes_changed_at_utc): exact
    deleted, resource_type, event_type, changed_at, data
FROM changes
ORDER BY position;

UPDATE projection_tracking SET
    position = coalesce((SELECT position FROM projection_tracking WHERE name = 'changes'), 0),
    updated_at = now(), failing_since = NULL, last_error = NULL
WHERE name = 'records';
DELETE FROM projection_tracking WHERE name = 'changes';
DROP TABLE records_before_0010;
DROP TABLE changes;

-- Each index is led by a 64-bit hash of the tenant (and resource), not the tenant's UUID:
-- with entries of two 8-byte columns, a page split at a tenant's growing end leaves the
-- page about 90% full instead of half (projections/records/keys.py); queries compare
-- `tenant_id` and `resource` as well.
-- The feed: a page is a range of this index per resource type, merged in position order
-- (projections/changes/feed.py).
CREATE UNIQUE INDEX records_tenant_resource_position
    ON records (uuid_hash_extended(tenant_id, hashtext(resource)), position);
-- The lists, live records only: a page is a range of the first in `created_at` order (ties,
-- rare, sorted by id as they come: an incremental sort); `updated_since` pages use the
-- second when the filter is selective.
CREATE INDEX records_tenant_resource_created
    ON records (uuid_hash_extended(tenant_id, hashtext(resource)), created_at)
    WHERE NOT deleted;
CREATE INDEX records_tenant_resource_updated
    ON records (uuid_hash_extended(tenant_id, hashtext(resource)), updated_at)
    WHERE NOT deleted;
-- A query compares the key and the tenant (and resource) it was made from; without these
-- statistics the planner takes the comparisons as independent, underestimates the rows a
-- page's range holds, and may read a tenant's whole range and sort it instead.
CREATE STATISTICS records_keys (dependencies)
    ON tenant_id, resource, (uuid_hash_extended(tenant_id, hashtext(resource)))
    FROM records;
