"""Change cursors: a position in the event log, opaque and bound to one tenant.

`/v1/changes`, the envelope's `cursor`, `/v1/events?after=` and webhook replays share this
cursor space; the functions here are the only place it is encoded and decoded.
"""

from __future__ import annotations

from uuid import UUID

from projections.cursor import CursorCodec, InvalidCursorError

KIND = "changes"
MAX_POSITION = 2**63 - 1  # notification ids are PostgreSQL bigints


def encode_change_cursor(codec: CursorCodec, tenant_id: UUID, position: int) -> str:
    """The cursor that resumes a tenant's feed after log position `position`."""
    return codec.encode(KIND, tenant_id, [position])


def encode_change_cursors(codec: CursorCodec, tenant_id: UUID, positions: list[int]) -> list[bytes]:
    """`encode_change_cursor` of each position, as ASCII bytes (a page's item cursors)."""
    return codec.encode_all(KIND, tenant_id, [[position] for position in positions])


def decode_change_cursor(codec: CursorCodec, tenant_id: UUID, cursor: str) -> int:
    """The log position a change cursor names; InvalidCursorError if it is not one of ours."""
    position = codec.decode(KIND, tenant_id, cursor)
    if len(position) != 1 or type(position[0]) is not int or not 0 <= position[0] <= MAX_POSITION:
        raise InvalidCursorError("is not a cursor this API issued")
    return position[0]
