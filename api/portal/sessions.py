"""Browser sessions of the portal (one tenant) and the console (the operator).

An app (or the operator) asks the API for a one-time link; following it trades the link
token for a session token in one statement (so a link works once), which the browser keeps
in an HttpOnly cookie. Only SHA-256 digests of both tokens are stored (`portal_sessions`,
migration 0009). A session is checked on every request: it ends when it expires, when its
tenant is suspended, and when the credential that asked for it is revoked, expires or loses
the `webhooks:manage` scope.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from api.services import ApiServices
from domain.context import Actor
from domain.credential import ApiKey, OAuthClient
from domain.errors import RecordNotFoundError

Kind = Literal["portal", "console"]
LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=1)
LINK_PREFIX = "psl_"  # redacted in logs (api/redaction.py)
SESSION_PREFIX = "pss_"
MANAGE = "webhooks:manage"
OPERATOR = Actor("operator", "admin")
COOKIES: dict[str, str] = {"portal": "syncline_portal", "console": "syncline_console"}
# Rows past this age are neither links nor sessions any more: deleted as links are issued.
KEEP = timedelta(days=1)

ISSUE = """
INSERT INTO portal_sessions
    (id, kind, tenant_id, credential_id, link_hash, link_expires_at, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
PURGE = "DELETE FROM portal_sessions WHERE link_expires_at < %s"
# One statement: two concurrent exchanges of one link cannot both succeed.
EXCHANGE = """
UPDATE portal_sessions
SET used_at = %(now)s, session_hash = %(session)s, session_expires_at = %(expires)s
WHERE link_hash = %(link)s AND kind = %(kind)s AND used_at IS NULL
    AND link_expires_at > %(now)s
RETURNING id, tenant_id, credential_id
"""
FIND = """
SELECT id, tenant_id, credential_id, session_expires_at FROM portal_sessions
WHERE session_hash = %s AND kind = %s AND ended_at IS NULL
"""
END = "UPDATE portal_sessions SET ended_at = %s WHERE id = %s AND ended_at IS NULL"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Link:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class BrowserSession:
    """A live session; `token` is the cookie's value (never shown on a page)."""

    id: UUID
    kind: Kind
    tenant_id: UUID | None
    credential_id: UUID | None
    expires_at: datetime
    token: str
    actor: Actor = OPERATOR  # who changes made in the session are recorded as made by

    @property
    def csrf_token(self) -> str:
        """The token every form of this session carries: bound to the session, so a page
        of another session (or another site) cannot forge it."""
        return csrf_token_of(self.token)


def csrf_token_of(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"syncline-csrf", hashlib.sha256).hexdigest()


def issue_link(
    services: ApiServices,
    kind: Kind,
    *,
    tenant_id: UUID | None,
    credential_id: UUID | None,
) -> Link:
    """A one-time link token for a new session (stored as its digest only)."""
    now = services.clock.now()
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + LINK_LIFETIME
    with services.pool.connection() as conn:
        conn.execute(PURGE, [now - KEEP])
        conn.execute(
            ISSUE, [uuid4(), kind, tenant_id, credential_id, digest(token), expires_at, now]
        )
    return Link(token, expires_at)


def exchange(services: ApiServices, kind: Kind, link_token: str) -> BrowserSession | None:
    """The session a link opens, or None when the link is unknown, used or expired (or
    the tenant or credential behind it no longer may open one)."""
    if not link_token.startswith(LINK_PREFIX):
        return None
    now = services.clock.now()
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + SESSION_LIFETIME
    with services.pool.connection() as conn:
        row = conn.execute(
            EXCHANGE,
            {
                "now": now,
                "session": digest(token),
                "expires": expires_at,
                "link": digest(link_token),
                "kind": kind,
            },
        ).fetchone()
    if row is None:
        return None
    session = BrowserSession(row[0], kind, row[1], row[2], expires_at, token)
    actor = allowed_actor(services, session)
    return None if actor is None else replace(session, actor=actor)


def find(services: ApiServices, kind: Kind, token: str | None) -> BrowserSession | None:
    """The live session of cookie value `token`, or None (unknown, ended, expired, or
    its tenant suspended or credential revoked since)."""
    if not token or not token.startswith(SESSION_PREFIX):
        return None
    with services.pool.connection() as conn:
        row = conn.execute(FIND, [digest(token), kind]).fetchone()
    if row is None or services.clock.now() >= row[3]:
        return None
    session = BrowserSession(row[0], kind, row[1], row[2], row[3], token)
    actor = allowed_actor(services, session)
    if actor is None:
        end(services, session)  # for good: reactivating the tenant does not revive it
        return None
    return replace(session, actor=actor)


def end(services: ApiServices, session: BrowserSession) -> None:
    with services.pool.connection() as conn:
        conn.execute(END, [services.clock.now(), session.id])


def allowed_actor(services: ApiServices, session: BrowserSession) -> Actor | None:
    """Who the session acts as, if whoever opened it still may: the operator's console
    needs an admin token configured; a portal needs its tenant active and, when a
    credential opened it, that credential live and holding `webhooks:manage` (its changes
    are then recorded as the credential's). None: the session must end."""
    if session.kind == "console":
        return OPERATOR if services.admin_token else None
    if session.tenant_id is None:
        return None
    try:
        if services.app.get_tenant(session.tenant_id).status != "active":
            return None
    except RecordNotFoundError:
        return None
    if session.credential_id is None:
        return OPERATOR  # opened by the operator for the tenant
    credential = services.app.get_credential(session.credential_id)
    if (
        credential is None
        or credential.tenant_id != session.tenant_id
        or not credential.is_live(services.clock.now())
        or MANAGE not in credential.scopes
    ):
        return None
    if isinstance(credential, ApiKey):
        return Actor("api_key", credential.prefix)
    if isinstance(credential, OAuthClient):
        return Actor("oauth_client", credential.client_id)
    return None
