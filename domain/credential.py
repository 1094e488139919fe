"""Credentials: API keys and OAuth clients; secrets are random, shown once, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import ConflictError, InvalidFieldError

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
            "scopes", f"unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}"
        )
    if not scopes:
        raise InvalidFieldError("scopes", "at least one scope is required")
    return sorted(set(scopes), key=SCOPES.index)


class Credential(Aggregate):
    """Something a tenant's integration authenticates with."""

    class Created(Aggregate.Created):
        tenant_id: UUID
        secret_hash: str
        scopes: list[str]
        expires_at: datetime | None
        meta: dict[str, Any]

    class SecretRotated(Aggregate.Event):
        secret_hash: str
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.secret_hash = self.secret_hash

    class Revoked(Aggregate.Event):
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True

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

    @classmethod
    def issue(
        cls, ctx: Context, scopes: list[str], expires_at: datetime | None = None
    ) -> tuple[Any, str]:
        """A new credential and its secret (the only time the secret exists in clear)."""
        secret = new_secret()
        credential = cls._create(
            cls.Created,
            id=uuid4(),
            tenant_id=ctx.tenant_id,
            secret_hash=hash_secret(secret),
            scopes=check_scopes(scopes),
            expires_at=expires_at,
            meta=ctx.as_meta(),
        )
        return credential, secret

    def verify(self, secret: str, now: datetime) -> bool:
        """Whether `secret` is this live credential's secret (compared in constant time)."""
        matches = hmac.compare_digest(self.secret_hash, hash_secret(secret))
        return matches and not self.revoked and (self.expires_at is None or now < self.expires_at)

    def revoke(self, ctx: Context) -> None:
        if self.revoked:
            raise ConflictError(f"credential {self.id} is already revoked")
        self.trigger_event(self.Revoked, meta=ctx.as_meta())


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

    def rotate(self, ctx: Context) -> str:
        """A new secret; the old one stops working at once."""
        if self.revoked:
            raise ConflictError(f"OAuth client {self.client_id} is revoked")
        secret = new_secret()
        self.trigger_event(self.SecretRotated, secret_hash=hash_secret(secret), meta=ctx.as_meta())
        return secret
