"""Browser sessions of the portal (one tenant) and the console (the operator).

An app (or the operator) asks the API for a one-time link; following it trades the link
token for a session token in one statement (so a link works once), which the browser keeps
in an HttpOnly cookie. Only SHA-256 digests of both tokens are stored (`portal_sessions`,
migration 0010). A session is checked on every request: it ends when it expires, when its
tenant is suspended, and when the credential that asked for it is revoked, expires or loses
the `webhooks:manage` scope.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from api.services import ApiServices
from domain.errors import RecordNotFoundError

Kind = Literal["portal", "console"]
LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=1)
LINK_PREFIX = "psl_"  # redacted in logs (api/redaction.py)
SESSION_PREFIX = "pss_"
MANAGE = "webhooks:manage"
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
    return session if still_allowed(services, session) else None


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
    if not still_allowed(services, session):
        end(services, session)  # for good: reactivating the tenant does not revive it
        return None
    return session


def end(services: ApiServices, session: BrowserSession) -> None:
    with services.pool.connection() as conn:
        conn.execute(END, [services.clock.now(), session.id])


def still_allowed(services: ApiServices, session: BrowserSession) -> bool:
    """Whether whoever opened the session still may: the operator's console needs an admin
    token configured; a portal needs its tenant active and, when a credential opened it,
    that credential live and holding `webhooks:manage`."""
    if session.kind == "console":
        return bool(services.admin_token)
    if session.tenant_id is None:
        return False
    try:
        if services.app.get_tenant(session.tenant_id).status != "active":
            return False
    except RecordNotFoundError:
        return False
    if session.credential_id is None:
        return True  # opened by the operator for the tenant
    credential = services.app.get_credential(session.credential_id)
    return (
        credential is not None
        and credential.tenant_id == session.tenant_id
        and credential.is_live(services.clock.now())
        and MANAGE in credential.scopes
    )
