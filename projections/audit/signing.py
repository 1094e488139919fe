"""The checkpoint signing key: Ed25519 from a 32-byte seed, and the record of every key used."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from psycopg_pool import ConnectionPool

from projections.audit.trust import key_id

ALGORITHM = "Ed25519"


class InvalidSigningKeyError(ValueError):
    """SYNCLINE_AUDIT_SIGNING_KEY is not the base64 of 32 bytes."""


def seed_from_text(text: str) -> bytes:
    """The 32-byte seed of SYNCLINE_AUDIT_SIGNING_KEY (standard or URL-safe base64)."""
    try:
        seed = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except ValueError as exc:
        raise InvalidSigningKeyError(
            "SYNCLINE_AUDIT_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed"
        ) from exc
    if len(seed) != 32:
        raise InvalidSigningKeyError(
            f"SYNCLINE_AUDIT_SIGNING_KEY decodes to {len(seed)} bytes; an Ed25519 seed is 32"
        )
    return seed


class CheckpointSigner:
    """Signs checkpoint messages; `key_id` names the key (a digest of its public half)."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    def sign(self, message: bytes) -> str:
        """The signature, base64."""
        return base64.b64encode(self._key.sign(message)).decode()

    def register(self, pool: ConnectionPool) -> None:
        """Keep this key's public half among every key ever used."""
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO audit_keys (key_id, public_key) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (self.key_id, self.public_key),
            )


def key_document(key_id: str, public_key: bytes, first_used_at: Any = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(public_key).decode(),
        "key_id": key_id,
    }
    if first_used_at is not None:
        document["first_used_at"] = first_used_at
    return document
