"""The peer's tables: contacts, their outbox, and API keys (hashed)."""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_api_keys (
    key_hash bytea PRIMARY KEY,
    tenant_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_contacts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    email text NOT NULL,
    name text,
    phone text,
    company text,
    tags text[] NOT NULL,
    custom_fields jsonb NOT NULL,
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS peer_contacts_tenant_created
    ON peer_contacts (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS peer_contacts_tenant_updated
    ON peer_contacts (tenant_id, updated_at, id);
CREATE TABLE IF NOT EXISTS peer_outbox (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS peer_outbox_unpublished ON peer_outbox (id) WHERE published_at IS NULL;
"""


def create_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SCHEMA)
