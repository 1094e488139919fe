"""Credentials: API keys and OAuth clients; secrets are random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import ConflictError, InvalidFieldError
from domain.ids import new_id

SCOPES = ("records:read", "records:write", "webhooks:manage", "events:read")
API_KEY_PREFIX = "sk_"
CLIENT_ID_PREFIX = "cli_"
CLIENT_SECRET_PREFIX = "cs_"  # noqa: S105


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # A fast hash is right here: the secret is 256 random bits, not a guessable password.
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidFieldError(
            "scopes", f"unknown scope {unknown[0][:64]!r}; known: {', '.join(SCOPES)}"
        )
    if not scopes:
        raise InvalidFieldError("scopes", "at least one scope is required")
    return sorted(set(scopes), key=SCOPES.index)


class Credential(Aggregate):
    """Something a tenant's integration authenticates with.

    Its life is `active` → `revoked` (by the operator) or `expired` (past `expires_at`);
    every change records who made it (`meta.actor`) and in which request.
    """

    class Created(Aggregate.Created):
        tenant_id: UUID
        secret_hash: str
        scopes: list[str]
        expires_at: datetime | None
        meta: dict[str, Any]

    class ScopesChanged(Aggregate.Event):
        scopes: list[str]
        previous: list[str]
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.scopes = self.scopes

    class SecretRotated(Aggregate.Event):
        secret_hash: str
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.secret_hash = self.secret_hash
            aggregate.generation += 1

    class Revoked(Aggregate.Event):
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True

    class Expired(Aggregate.Event):
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.expired = True

    def __init__(
        self,
        tenant_id: UUID,
        secret_hash: str,
        scopes: list[str],
        expires_at: datetime | None,
        meta: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.secret_hash = secret_hash
        self.scopes = scopes
        self.expires_at = expires_at
        self.revoked = False
        self.expired = False
        # Bumped by each rotation; access tokens remember the generation they were minted
        # under, so rotating a client's secret also ends its tokens.
        self.generation = 0

    @classmethod
    def issue(
        cls,
        ctx: Context,
        scopes: list[str],
        expires_at: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> tuple[Any, str]:
        """A new credential and its secret (the only time the secret exists in clear)."""
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidFieldError("expires_at", "must include a time zone offset")
            if now is not None and expires_at <= now:
                raise InvalidFieldError("expires_at", "must be in the future")
        secret = new_secret()
        credential = cls._create(
            cls.Created,
            id=new_id(),
            tenant_id=ctx.tenant_id,
            secret_hash=hash_secret(secret),
            scopes=check_scopes(scopes),
            expires_at=expires_at,
            meta=ctx.as_meta(),
        )
        return credential, secret

    def is_live(self, now: datetime) -> bool:
        return not self.revoked and not self.expired and not self.is_past_expiry(now)

    def is_past_expiry(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def verify(self, secret: str, now: datetime) -> bool:
        """Whether `secret` is this live credential's secret (compared in constant time)."""
        matches = hmac.compare_digest(self.secret_hash, hash_secret(secret))
        return matches and self.is_live(now)

    @property
    def status(self) -> str:
        return "revoked" if self.revoked else "expired" if self.expired else "active"

    def change_scopes(self, ctx: Context, scopes: list[str]) -> None:
        self._require_live("change the scopes of")
        scopes = check_scopes(scopes)
        if scopes != self.scopes:
            self.trigger_event(
                self.ScopesChanged, scopes=scopes, previous=self.scopes, meta=ctx.as_meta()
            )

    def revoke(self, ctx: Context) -> None:
        if self.revoked:
            raise ConflictError(f"credential {self.id} is already revoked")
        self.trigger_event(self.Revoked, meta=ctx.as_meta())

    def expire(self, ctx: Context, now: datetime) -> None:
        """Record that the credential passed its `expires_at` (it stopped working then)."""
        if not self.is_past_expiry(now):
            raise ConflictError(f"credential {self.id} has not reached its expiry")
        self._require_live("expire")
        self.trigger_event(self.Expired, meta=ctx.as_meta())

    def _require_live(self, action: str) -> None:
        if self.revoked or self.expired:
            raise ConflictError(f"cannot {action} credential {self.id}: it is {self.status}")


class ApiKey(Credential):
    """A bearer API key: `sk_<id>_<secret>`; `sk_<id>` is its public prefix."""

    @property
    def prefix(self) -> str:
        return f"{API_KEY_PREFIX}{self.id.hex}"

    def token(self, secret: str) -> str:
        return f"{self.prefix}_{secret}"

    @staticmethod
    def parse(token: str) -> tuple[UUID, str] | None:
        """The key id and secret of a token, or None when it is not shaped like a key."""
        if not token.startswith(API_KEY_PREFIX):
            return None
        key_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
        if not sep or len(key_id) != 32 or not secret:
            return None
        try:
            return UUID(hex=key_id), secret
        except ValueError:
            return None


class OAuthClient(Credential):
    """An OAuth 2.0 client (client credentials grant): `cli_<id>` and a `cs_` secret."""

    @property
    def client_id(self) -> str:
        return f"{CLIENT_ID_PREFIX}{self.id.hex}"

    @staticmethod
    def client_secret(secret: str) -> str:
        return f"{CLIENT_SECRET_PREFIX}{secret}"

    @staticmethod
    def parse_client_id(client_id: str) -> UUID | None:
        if not client_id.startswith(CLIENT_ID_PREFIX) or len(client_id) != 36:
            return None
        try:
            return UUID(hex=client_id[len(CLIENT_ID_PREFIX) :])
        except ValueError:
            return None

    def verify_client_secret(self, client_secret: str, now: datetime) -> bool:
        """Whether `client_secret` (`cs_…`) is this live client's current secret."""
        if not client_secret.startswith(CLIENT_SECRET_PREFIX):
            return False
        return self.verify(client_secret[len(CLIENT_SECRET_PREFIX) :], now)

    def rotate(self, ctx: Context) -> str:
        """A new secret; the old one, and every access token minted with it, stop at once."""
        self._require_live("rotate")
        secret = new_secret()
        self.trigger_event(self.SecretRotated, secret_hash=hash_secret(secret), meta=ctx.as_meta())
        return secret
