"""AuditChainProjection: each tenant's hash chain over its public events, in log order."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg

from domain.audit import AuditCheckpoint
from domain.event_classes import instance_of
from projections.audit.chain import GENESIS, canonical_bytes, chained_type, next_hash
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.rendering import public_event_id

_CHECKPOINT = instance_of(AuditCheckpoint.Created)

_HEADS = "SELECT tenant_id, sequence, chain_hash FROM audit_heads WHERE tenant_id = ANY(%s)"
# The columns as array literals (projections.json.array_literal), the hashes as hex text:
# psycopg would dump a list of values element by element in Python.
_INSERT_CHAIN = """
    INSERT INTO audit_chain (tenant_id, sequence, position, event_id, chain_hash)
    SELECT t, s, p, e, decode(h, 'hex')
    FROM unnest(%s::uuid[], %s::int8[], %s::int8[], %s::text[], %s::text[]) AS u(t, s, p, e, h)
"""
_UPSERT_HEADS = """
    INSERT INTO audit_heads AS h (tenant_id, sequence, chain_hash)
    SELECT * FROM unnest(%s::uuid[], %s::int8[], %s::bytea[])
    ON CONFLICT (tenant_id) DO UPDATE SET sequence = excluded.sequence,
        chain_hash = excluded.chain_hash
"""
_INSERT_CHECKPOINT = """
    INSERT INTO audit_checkpoints (tenant_id, sequence, position, chain_hash, signed_at,
        key_id, signature)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_CHECKPOINTED = """
    UPDATE audit_heads SET checkpoint_sequence = greatest(checkpoint_sequence, %s),
        checkpointed_at = %s::timestamptz
    WHERE tenant_id = %s
"""


class _Chained(NamedTuple):
    """What a chained event adds to its tenant's chain, less the chaining itself."""

    position: int
    tenant: str
    canonical: bytes  # the envelope's RFC 8785 bytes (projections.audit.chain)
    event_id: str


class _Batch(NamedTuple):
    chained: list[_Chained]
    checkpoints: list[tuple[int, Any]]  # (position, audit.checkpoint event)


class AuditChainProjection(PreparingProjection):
    """`audit_chain` (one row per chained event), `audit_heads` (each tenant's head) and
    `audit_checkpoints` (the `audit.checkpoint` events, which attest the chain and are
    not part of it). A batch reads the heads of its tenants, extends each chain in log
    order, and writes the new rows with the tracking position (ProjectionRunner).

    Each event's canonical bytes depend on the event alone, so `prepare` makes them (in
    the runner's read-ahead thread, while the batch before commits: most of the chain's
    work); `write` reads the heads and chains the hashes in the batch's transaction."""

    name = "audit"
    # Auditors read it; in a backlog the change feed and webhooks go first (CatchUpOrder).
    catches_up_later = True

    def prepare(self, events: Sequence[tuple[int, Any]]) -> _Batch:
        chained: list[_Chained] = []
        checkpoints: list[tuple[int, Any]] = []
        for position, event in events:
            if _CHECKPOINT(event):
                checkpoints.append((position, event))
                continue
            event_type = chained_type(event)
            if event_type is not None:
                chained.append(
                    _Chained(
                        position,
                        event.meta["tenant_id"],
                        canonical_bytes(event, event_type),
                        public_event_id(event),
                    )
                )
        return _Batch(chained, checkpoints)

    def write(self, cur: psycopg.Cursor[Any], prepared: _Batch) -> None:
        if prepared.chained:
            self._extend(cur, prepared.chained)
        for position, event in prepared.checkpoints:
            state = event.state
            tenant = UUID(state["tenant_id"])
            cur.execute(
                _INSERT_CHECKPOINT,
                (
                    tenant,
                    state["sequence"],
                    position,
                    bytes.fromhex(state["chain_hash"]),
                    state["signed_at"],
                    state["key_id"],
                    base64.b64decode(state["signature"]),
                ),
            )
            cur.execute(_CHECKPOINTED, (state["sequence"], state["signed_at"], tenant))

    def _extend(self, cur: psycopg.Cursor[Any], chained: list[_Chained]) -> None:
        tenants = list({c.tenant for c in chained})
        heads: dict[str, tuple[int, bytes]] = {
            str(tenant): (int(sequence), bytes(chain_hash))
            for tenant, sequence, chain_hash in cur.execute(_HEADS, (tenants,)).fetchall()
        }
        rows: list[tuple[str, int, int, str, str]] = []
        for position, tenant, canonical, event_id in chained:
            sequence, previous = heads.get(tenant, (0, GENESIS))
            chain_hash = next_hash(previous, canonical)
            heads[tenant] = (sequence + 1, chain_hash)
            rows.append((tenant, sequence + 1, position, event_id, chain_hash.hex()))
        columns = [array_literal(list(column)) for column in zip(*rows, strict=True)]
        cur.execute(_INSERT_CHAIN, columns)
        cur.execute(
            _UPSERT_HEADS,
            (
                tenants,
                [heads[t][0] for t in tenants],
                [heads[t][1] for t in tenants],
            ),
        )

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE audit_chain, audit_heads, audit_checkpoints")
