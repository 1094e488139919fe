"""OAuth 2.0 access tokens: opaque bearer tokens, stored only as SHA-256 hashes.

Tokens live in a plain table, not in the event store: they are short-lived and numerous,
and minting one changes nothing an auditor or a webhook subscriber cares about. The
client's own lifecycle (created, rotated, revoked, expired) is event-sourced; a token is
only as alive as its client, which the Authenticator checks on every lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from psycopg_pool import ConnectionPool

from domain.credential import OAuthClient

ACCESS_TOKEN_PREFIX = "at_"  # noqa: S105


def token_hash(token: str) -> bytes:
    # Looked up by this digest: an index probe's timing cannot be steered towards a secret
    # the attacker does not know, since they cannot choose the digest's bytes.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class AccessTokenGrant:
    """What an access token stands for: a client's scopes until `expires_at`."""

    client_id: UUID
    tenant_id: UUID
    scopes: tuple[str, ...]
    generation: int
    expires_at: datetime


class AccessTokenStore:
    """Mints and finds access tokens."""

    def __init__(self, pool: ConnectionPool, lifetime: timedelta) -> None:
        self.pool = pool
        self.lifetime = lifetime

    def mint(self, client: OAuthClient, scopes: list[str], now: datetime) -> tuple[str, datetime]:
        """A new token (256 random bits) for `client`, and when it expires."""
        token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + self.lifetime
        if client.expires_at is not None:
            expires_at = min(expires_at, client.expires_at)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO access_tokens (token_hash, client_id, tenant_id, scopes, generation,"
                " issued_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    token_hash(token),
                    client.id,
                    client.tenant_id,
                    scopes,
                    client.generation,
                    now,
                    expires_at,
                ),
            )
        return token, expires_at

    def find(self, token: str) -> AccessTokenGrant | None:
        if not token.startswith(ACCESS_TOKEN_PREFIX):
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT client_id, tenant_id, scopes, generation, expires_at FROM access_tokens"
                " WHERE token_hash = %s",
                (token_hash(token),),
            ).fetchone()
        if row is None:
            return None
        return AccessTokenGrant(row[0], row[1], tuple(row[2]), row[3], row[4])

    def purge(self, expired_before: datetime) -> int:
        """Forget tokens that expired before `expired_before`; answers how many."""
        with self.pool.connection() as conn:
            cur = conn.execute("DELETE FROM access_tokens WHERE expires_at < %s", (expired_before,))
            return cur.rowcount
