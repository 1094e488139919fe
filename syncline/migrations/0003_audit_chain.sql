-- The audit hash chain (projections/audit/): each tenant's chained events, its head and
-- last checkpoint, the signed checkpoints, and every signing key ever used.

-- One row per chained event: the tenant's `sequence` (1, 2, 3, …) and the chain hash after
-- it. `position` is the event's notification id in the event store.
CREATE TABLE audit_chain (
    tenant_id uuid NOT NULL,
    sequence bigint NOT NULL,
    position bigint NOT NULL,
    event_id text NOT NULL,
    chain_hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, sequence)
);
CREATE UNIQUE INDEX audit_chain_tenant_position ON audit_chain (tenant_id, position);

-- Each tenant's head, and its last checkpoint (what the checkpointer asks of every tenant).
CREATE TABLE audit_heads (
    tenant_id uuid PRIMARY KEY,
    sequence bigint NOT NULL,
    chain_hash bytea NOT NULL,
    checkpoint_sequence bigint NOT NULL DEFAULT 0,
    checkpointed_at timestamptz
);

-- The signed checkpoints, as recorded in the log (`audit.checkpoint` events).
CREATE TABLE audit_checkpoints (
    tenant_id uuid NOT NULL,
    sequence bigint NOT NULL,
    position bigint NOT NULL,
    chain_hash bytea NOT NULL,
    signed_at text NOT NULL,  -- as signed: the API's time format
    key_id text NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (tenant_id, sequence)
);

-- Every signing key ever used (its public half), so old checkpoints verify after a rotation.
CREATE TABLE audit_keys (
    key_id text PRIMARY KEY,
    public_key bytea NOT NULL,
    first_used_at timestamptz NOT NULL DEFAULT now()
);
