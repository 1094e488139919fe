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


def sign_payload(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_signature(key: bytes, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(key, body)>` for `X-Signature-256`."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one delivery.

    `secrets` lists the current secret first, then any still in their rotation grace period:
    `webhook-signature` carries one `v1,…` per secret, space-separated, so a receiver holding
    either secret verifies; `X-Signature-256` is made with the current secret.
    """
    keys = [signing_key(secret) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign_payload(k, msg_id, timestamp, body) for k in keys),
        "X-Signature-256": body_signature(keys[0], body),
    }
