"""Webhook signatures: Standard Webhooks `webhook-signature` and `X-Signature-256`."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Sequence

from domain.webhook import SECRET_PREFIX


class InvalidSecretError(ValueError):
    """A webhook secret that is not `whsec_` followed by base64."""


@functools.lru_cache(maxsize=4096)
def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret: the base64-decoded part after the prefix."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise InvalidSecretError("a webhook secret may not be empty")
    return key


@functools.lru_cache(maxsize=4096)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with the secret: each signature starts from a copy,
    which skips the key schedule and never copies the body into a new buffer."""
    return hmac.new(signing_key(secret), digestmod=hashlib.sha256)


def _standard(keyed: hmac.HMAC, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = keyed.copy()
    mac.update(f"{msg_id}.{timestamp}.".encode())
    mac.update(body)
    return "v1," + binascii.b2a_base64(mac.digest(), newline=False).decode()


def _x_signature(keyed: hmac.HMAC, body: bytes) -> str:
    mac = keyed.copy()
    mac.update(body)
    return "sha256=" + mac.hexdigest()


def signature_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one delivery.

    `secrets` lists the current secret first, then any still in their rotation grace period:
    `webhook-signature` carries one `v1,…` per secret, space-separated, so a receiver holding
    either secret verifies; `X-Signature-256` is made with the current secret.
    """
    keyed = [_keyed(secret) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(_standard(k, msg_id, timestamp, body) for k in keyed),
        "X-Signature-256": _x_signature(keyed[0], body),
    }
