-- Browser sessions of the webhook portal (one tenant) and the operator console
-- (api/portal/sessions.py). A row starts as a one-time link (valid 10 minutes, usable
-- once) and, when the link is followed, becomes a session (1 hour) in the same
-- statement. Only SHA-256 digests of the link token and of the session token are stored.
CREATE TABLE portal_sessions (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('portal', 'console')),
    tenant_id uuid,  -- the portal's tenant; NULL for the console
    credential_id uuid,  -- the credential that asked for the link; NULL: the operator
    link_hash bytea NOT NULL UNIQUE,
    link_expires_at timestamptz NOT NULL,
    used_at timestamptz,
    session_hash bytea UNIQUE,
    session_expires_at timestamptz,
    ended_at timestamptz,
    created_at timestamptz NOT NULL
);
-- Expired rows are deleted by the sessions module as links are issued.
CREATE INDEX portal_sessions_expiry ON portal_sessions (link_expires_at);
