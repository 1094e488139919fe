"""Opaque cursors: versioned, bound to one tenant, and authenticated against tampering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
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

    def encode_all(self, kind: str, tenant_id: UUID, positions: Sequence[list[Any]]) -> list[bytes]:
        """`encode` of each position, as ASCII bytes: the cursors of a page's items, at a
        fraction of the cost each. The prefix and the MAC's state are computed once, and
        the base64 of all of them is made URL-safe and unpadded in one pass (a page of 1000
        items has 1000 cursors, the largest cost of building it).
        """
        if not positions:
            return []
        # The msgpack of `[VERSION, kind, tenant, position]` is a fixed prefix followed by the
        # position's msgpack; the MAC's state after the key block and the prefix is copied.
        prefix = msgspec.msgpack.encode([VERSION, kind, tenant_id.bytes, []])[:-1]
        keyed = hashlib.blake2b(key=self._key[:64], digest_size=MAC_BYTES)
        keyed.update(prefix)
        pack, b64, copy = msgspec.msgpack.encode, binascii.b2a_base64, keyed.copy
        blobs = []
        for position in positions:
            tail = pack(position)
            mac = copy()
            mac.update(tail)
            blobs.append(b64(prefix + tail + mac.digest(), newline=False))
        # No base64 has a newline, and "=" is only ever padding at the end of one.
        return b"\n".join(blobs).translate(_URL_SAFE).replace(b"=", b"").split(b"\n")

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
