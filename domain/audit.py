"""AuditCheckpoint: a signed attestation of the head of a tenant's audit hash chain.

The chain itself is computed from the log by a projection; a checkpoint records its head
(sequence and hash) with a signature, as an event in the log like every other fact:
`/v1/events` lists it and webhooks deliver it (`audit.checkpoint`), so a tenant can keep
the proof. Each checkpoint is an aggregate of its own whose id is derived from the tenant
and the sequence: it is written once, never loaded to append to, and two workers
checkpointing the same head at once cannot both succeed (the event store's uniqueness of
id and version refuses the second).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.context import Context

AUDIT_CHECKPOINT_NAMESPACE = UUID("0b6f43c2-9a51-4d8e-b7e2-1c5d9e3a7f20")
CHECKPOINT_PREFIX = "syncline-checkpoint:v1"


def checkpoint_id(tenant_id: UUID | str, sequence: int) -> UUID:
    """The id of the checkpoint of a tenant's chain at `sequence`."""
    return uuid5(AUDIT_CHECKPOINT_NAMESPACE, f"{tenant_id}/{sequence}")


def checkpoint_message(tenant_id: str, sequence: int, chain_hash_hex: str, signed_at: str) -> bytes:
    """The exact bytes a checkpoint's Ed25519 signature covers."""
    return f"{CHECKPOINT_PREFIX}:{tenant_id}:{sequence}:{chain_hash_hex}:{signed_at}".encode()


class AuditCheckpoint(Aggregate):
    """One checkpoint. `state` is the checkpoint as the API shows it: `tenant_id`,
    `sequence`, `chain_hash` (hex), `signed_at`, `key_id`, `signature` (base64)."""

    class Created(Aggregate.Created):
        state: dict[str, Any]
        previous: dict[str, Any]  # always empty: the public envelope renders it
        meta: dict[str, Any]

    def __init__(self, state: dict[str, Any], previous: dict[str, Any], meta: dict[str, Any]):
        self.state = state

    @classmethod
    def record(cls, ctx: Context, checkpoint: dict[str, Any]) -> AuditCheckpoint:
        state = {**checkpoint, "created_at": checkpoint["signed_at"]}
        made: AuditCheckpoint = cls._create(
            cls.Created,
            id=checkpoint_id(checkpoint["tenant_id"], checkpoint["sequence"]),
            state=state,
            previous={},
            meta=ctx.as_meta(),
        )
        return made
