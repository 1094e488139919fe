"""Opaque cursors: versioned, bound to one tenant, and authenticated against tampering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any
from uuid import UUID

import msgspec

VERSION = 1
MAC_BYTES = 12
_MAX_SUBKEYS = 100_000


class InvalidCursorError(ValueError):
    """A cursor that is malformed, tampered with, of another kind, or another tenant's."""


class CursorCodec:
    """Encodes `(kind, tenant, position…)` as an opaque URL-safe string.

    A cursor carries its format version and its tenant, and a 96-bit keyed-BLAKE2b MAC, so
    a client can neither forge a position nor use another tenant's cursor.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._subkeys: dict[tuple[bytes, bytes], bytes] = {}

    def subkey(self, purpose: bytes, tenant_id: UUID) -> bytes:
        """A 128-bit key of this codec's for one purpose and one tenant, derived with keyed
        BLAKE2b (cached: a feed page needs its tenant's key once per request)."""
        index = (purpose, tenant_id.bytes)
        key = self._subkeys.get(index)
        if key is None:
            if len(self._subkeys) >= _MAX_SUBKEYS:
                self._subkeys.clear()
            key = hashlib.blake2b(
                purpose + b"\x00" + tenant_id.bytes, key=self._key[:64], digest_size=16
            ).digest()
            self._subkeys[index] = key
        return key

    def _mac(self, raw: bytes) -> bytes:
        # Keyed BLAKE2b (RFC 7693) is a MAC in one C call: a feed page signs one cursor
        # per item, and this is about 4x cheaper than HMAC-SHA256 here.
        return hashlib.blake2b(raw, key=self._key[:64], digest_size=MAC_BYTES).digest()

    def encode(self, kind: str, tenant_id: UUID, position: list[Any]) -> str:
        raw = msgspec.msgpack.encode([VERSION, kind, tenant_id.bytes, position])
        return base64.urlsafe_b64encode(raw + self._mac(raw)).rstrip(b"=").decode()

    def decode(self, kind: str, tenant_id: UUID, cursor: str) -> list[Any]:
        try:
            blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursorError("is not a cursor this API issued") from None
        raw, mac = blob[:-MAC_BYTES], blob[-MAC_BYTES:]
        if len(blob) <= MAC_BYTES or not hmac.compare_digest(mac, self._mac(raw)):
            raise InvalidCursorError("is not a cursor this API issued") from None
        try:
            version, cursor_kind, tenant, position = msgspec.msgpack.decode(raw)
        except (msgspec.DecodeError, ValueError, TypeError):
            raise InvalidCursorError("is not a cursor this API issued") from None
        if version != VERSION:
            raise InvalidCursorError(f"has format version {version}; this API reads {VERSION}")
        if cursor_kind != kind:
            raise InvalidCursorError(f"belongs to another listing ({cursor_kind}), not {kind}")
        if tenant != tenant_id.bytes:
            raise InvalidCursorError("belongs to another tenant")
        if not isinstance(position, list):
            raise InvalidCursorError("is not a cursor this API issued")
        return position
