"""Change cursors: a position in the event log, opaque and bound to one tenant.

`/v1/changes`, the envelope's `cursor`, `/v1/events?after=` and webhook replays share this
cursor space; the functions here are the only place it is encoded and decoded.

Format 2 (issued since 2026-11) is 24 URL-safe characters: base64 of a two-byte header
(format 2, kind "changes") and one AES-128 block, enciphered under a key of the tenant's
own (`CursorCodec.subkey`). The block holds the position (8 bytes, big-endian) and 8 fixed
bytes. This is encode-then-encipher (Bellare & Rogaway, 2000): under another tenant's key,
or after any change to the block, the fixed bytes come out wrong except with probability
2^-64, so a cursor can be neither forged nor used by another tenant; and, unlike format 1,
it does not show the position, which counts every tenant's events (DESIGN.md keeps one
global log out of the public contract). Each cursor is exactly one block, so ECB mode is the
block cipher applied once per cursor, and a whole page's cursors are one call.

Format 1 (msgpack of version, kind, tenant and position, with a keyed-BLAKE2b MAC; see
`CursorCodec`) is still read: integrations keep the cursors they were given.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from uuid import UUID

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from projections.cursor import CursorCodec, InvalidCursorError

KIND = "changes"
MAX_POSITION = 2**63 - 1  # notification ids are PostgreSQL bigints
CURSOR_LENGTH = 24  # characters: base64 of 18 bytes, which needs no padding

_HEADER = b"\x02\x01"  # format 2, kind 1 ("changes")
_FIXED = b"changes\x02"  # the second half of every enciphered block
_SUBKEY = b"change-cursor/2"
_FOREIGN = "is not a cursor this API issued to this tenant (another tenant's, or altered)"


def _cipher(codec: CursorCodec, tenant_id: UUID) -> Cipher[modes.ECB]:
    # One block per cursor: ECB is the bare block cipher, not a chained mode misused.
    return Cipher(algorithms.AES(codec.subkey(_SUBKEY, tenant_id)), modes.ECB())  # noqa: S305


def encode_change_cursor(codec: CursorCodec, tenant_id: UUID, position: int) -> str:
    """The cursor that resumes a tenant's feed after log position `position`."""
    return encode_change_cursors(codec, tenant_id, [position])[0].decode()


def encode_change_cursors(codec: CursorCodec, tenant_id: UUID, positions: list[int]) -> list[bytes]:
    """`encode_change_cursor` of each position, as ASCII bytes (a page's item cursors).

    A page of 1000 is a handful of C calls: the blocks are laid out with strided copies,
    enciphered in one call and base64-encoded in one; format 1 signed each cursor in a
    Python loop and took four times as long.
    """
    n = len(positions)
    if not n:
        return []
    packed = struct.pack(f">{n}Q", *positions)
    blocks = bytearray(16 * n)
    for j in range(8):
        blocks[j::16] = packed[j::8]
        blocks[8 + j :: 16] = _FIXED[j : j + 1] * n
    sealed = _cipher(codec, tenant_id).encryptor().update(bytes(blocks))
    raw = bytearray(18 * n)
    raw[0::18] = _HEADER[:1] * n
    raw[1::18] = _HEADER[1:] * n
    for j in range(16):
        raw[2 + j :: 18] = sealed[j::16]
    text = base64.urlsafe_b64encode(raw)
    return [text[i : i + CURSOR_LENGTH] for i in range(0, CURSOR_LENGTH * n, CURSOR_LENGTH)]


def decode_change_cursor(codec: CursorCodec, tenant_id: UUID, cursor: str) -> int:
    """The log position a change cursor names; InvalidCursorError if it is not one of ours."""
    if len(cursor) == CURSOR_LENGTH:
        if "+" in cursor or "/" in cursor:  # b64decode would read them as "-" and "_"
            raise InvalidCursorError("is not a cursor this API issued")
        try:
            raw = base64.b64decode(cursor, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCursorError("is not a cursor this API issued") from None
        if len(raw) != 18 or raw[:2] != _HEADER:
            raise InvalidCursorError("is not a cursor this API issued")
        block = _cipher(codec, tenant_id).decryptor().update(raw[2:])
        position = int.from_bytes(block[:8], "big")
        if not hmac.compare_digest(block[8:], _FIXED) or position > MAX_POSITION:
            raise InvalidCursorError(_FOREIGN)
        return position
    position_list = codec.decode(KIND, tenant_id, cursor)  # format 1
    if (
        len(position_list) != 1
        or type(position_list[0]) is not int
        or not 0 <= position_list[0] <= MAX_POSITION
    ):
        raise InvalidCursorError("is not a cursor this API issued")
    return position_list[0]
