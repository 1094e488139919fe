"""Opaque cursors: versioned, bound to one tenant, and authenticated against tampering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec

VERSION = 1
MAC_BYTES = 12
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


class InvalidCursorError(ValueError):
    """A cursor that is malformed, tampered with, of another kind, or another tenant's."""


class CursorCodec:
    """Encodes `(kind, tenant, position…)` as an opaque URL-safe string.

    A cursor carries its format version and its tenant, and a 96-bit keyed-BLAKE2b MAC, so
    a client can neither forge a position nor use another tenant's cursor.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, raw: bytes) -> bytes:
        # Keyed BLAKE2b (RFC 7693) is a MAC in one C call: a feed page signs one cursor
        # per item, and this is about 4x cheaper than HMAC-SHA256 here.
        return hashlib.blake2b(raw, key=self._key[:64], digest_size=MAC_BYTES).digest()

    def encode(self, kind: str, tenant_id: UUID, position: list[Any]) -> str:
        raw = msgspec.msgpack.encode([VERSION, kind, tenant_id.bytes, position])
        return base64.urlsafe_b64encode(raw + self._mac(raw)).rstrip(b"=").decode()

    def encoder(self, kind: str, tenant_id: UUID) -> Callable[[list[Any]], str]:
        """`encode` for one kind and tenant, for many positions: the same cursors, at about
        half the cost each (a feed page signs one per item).

        The msgpack of `[VERSION, kind, tenant, position]` is a fixed prefix followed by the
        position's msgpack, so the prefix is encoded once and the MAC's state (key block
        and prefix) is computed once and copied for each position.
        """
        prefix = msgspec.msgpack.encode([VERSION, kind, tenant_id.bytes, []])[:-1]
        keyed = hashlib.blake2b(key=self._key[:64], digest_size=MAC_BYTES)
        keyed.update(prefix)
        pack = msgspec.msgpack.encode
        b64 = binascii.b2a_base64

        def encode(position: list[Any]) -> str:
            tail = pack(position)
            mac = keyed.copy()
            mac.update(tail)
            blob = b64(prefix + tail + mac.digest(), newline=False)
            return blob.translate(_URL_SAFE).rstrip(b"=").decode()

        return encode

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
