"""Audit schemas: signing keys, checkpoints, a verification's answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from api.schemas.common import HasMore, NextCursor

Sequence = Annotated[
    int, Meta(ge=0, description="Position in the tenant's chain: 1 for its first event.")
]
ChainHash = Annotated[
    str,
    Meta(
        description="Hex SHA-256 of the previous chain hash (32 zero bytes before the first"
        " event) followed by the RFC 8785 canonical JSON of the event's envelope without"
        " `cursor`.",
        examples=["9f2c…"],
    ),
]


class PublicKey(Struct, frozen=True):
    """A checkpoint signing key's public half."""

    algorithm: Annotated[str, Meta(examples=["Ed25519"])]
    public_key: Annotated[str, Meta(description="Base64 of the 32-byte Ed25519 public key.")]
    key_id: Annotated[
        str, Meta(description="Names the key in checkpoints (`key_id`).", examples=["ed25519:…"])
    ]


class KeyEntry(PublicKey, frozen=True):
    first_used_at: datetime


class KeyList(Struct, frozen=True):
    data: list[KeyEntry]
    next_cursor: NextCursor
    has_more: HasMore


class Checkpoint(Struct, frozen=True):
    """A signed statement of the chain's head: Ed25519 over the UTF-8 bytes of
    `syncline-checkpoint:v1:{tenant_id}:{sequence}:{chain_hash}:{signed_at}`."""

    tenant_id: UUID
    sequence: Sequence
    chain_hash: ChainHash
    signed_at: Annotated[str, Meta(description="As signed: `2026-11-29T16:11:14.123456Z`.")]
    key_id: str
    signature: Annotated[str, Meta(description="Base64 of the 64-byte Ed25519 signature.")]


class CheckpointEvent(Checkpoint, frozen=True):
    """The `data` of an `audit.checkpoint` event: the checkpoint, as an entity."""

    id: UUID
    version: int
    created_at: str
    updated_at: datetime


class CheckpointList(Struct, frozen=True):
    data: list[Checkpoint]
    next_cursor: NextCursor
    has_more: HasMore


class Mismatch(Struct, frozen=True):
    sequence: Sequence
    event_id: Annotated[str, Meta(description="The first event (`evt_…`) that does not match.")]
    reason: str


class Verification(Struct, frozen=True):
    """What one call checked. Call again with `next_from_sequence` until it is null."""

    tenant_id: UUID
    intact: Annotated[bool, Meta(description="No mismatch in the range checked.")]
    from_sequence: Sequence
    verified_through: Annotated[
        int, Meta(description="The last sequence recomputed and found as recorded.")
    ]
    checkpoints_verified: Annotated[
        int, Meta(description="Checkpoints in the range whose signature and hash verified.")
    ]
    next_from_sequence: Annotated[
        int | None,
        Meta(description="Where to continue; null when the check reached the chain's head."),
    ]
    mismatch: Mismatch | None
