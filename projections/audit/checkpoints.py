"""Checkpointer: signs the heads of the tenants' chains and records each as an event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from psycopg_pool import ConnectionPool

from domain.audit import AuditCheckpoint, checkpoint_message
from domain.context import SYSTEM, Context
from domain.envelope import isoformat
from projections.audit.signing import CheckpointSigner

log = logging.getLogger(__name__)

EVERY_SECONDS = 60  # a moving chain is signed at least this often
EVERY_EVENTS = 1000  # and at least every this many events
JOB_INTERVAL = 5.0  # how often the worker's job looks for chains that are due

_DUE = """
    SELECT tenant_id FROM audit_heads
    WHERE sequence > checkpoint_sequence
      AND (sequence - checkpoint_sequence >= %(events)s OR checkpointed_at IS NULL
           OR checkpointed_at <= now() - make_interval(secs => %(seconds)s))
    ORDER BY tenant_id
"""
_MOVED = "SELECT tenant_id FROM audit_heads WHERE sequence > checkpoint_sequence"
# Tenants whose chain no longer has, at its latest recorded checkpoint's sequence, the hash
# that checkpoint signed: rewritten, whether or not the chain moved since (a rewrite and a
# `syncline replay audit` add no event). An index probe or two per tenant.
_REWRITTEN = """
    SELECT h.tenant_id FROM audit_heads h
    JOIN LATERAL (SELECT p.sequence, p.chain_hash FROM audit_checkpoints p
        WHERE p.tenant_id = h.tenant_id ORDER BY p.sequence DESC LIMIT 1) p ON true
    LEFT JOIN audit_chain c ON c.tenant_id = h.tenant_id AND c.sequence = p.sequence
    WHERE c.chain_hash IS DISTINCT FROM p.chain_hash
    ORDER BY h.tenant_id
"""
# The tenant's latest recorded checkpoint and the chain's hash at its sequence.
_LATEST = """
    SELECT p.sequence, p.chain_hash, c.chain_hash FROM audit_checkpoints p
    LEFT JOIN audit_chain c ON c.tenant_id = p.tenant_id AND c.sequence = p.sequence
    WHERE p.tenant_id = %s ORDER BY p.sequence DESC LIMIT 1
"""


class ChainRewrittenError(Exception):
    """The chain no longer has the hash its latest recorded checkpoint signed: history
    before that checkpoint was rewritten (and the chain recomputed, `syncline replay
    audit`). The checkpointer refuses to sign such a chain, at every run until it is put
    back; `syncline audit verify` names the checkpoint and the range rewritten."""

    def __init__(self, tenant_id: UUID, sequence: int) -> None:
        self.tenant_id = tenant_id
        self.sequence = sequence
        super().__init__(
            f"tenant {tenant_id}: the chain hash at sequence {sequence} is not the one its"
            " checkpoint signed (history was rewritten); refusing to sign the chain"
        )


class Checkpointer:
    """Checkpoints every chain that is due: one that moved and whose last checkpoint is
    `every_seconds - JOB_INTERVAL` old (so, run every JOB_INTERVAL seconds, a moving chain is
    signed at least every `every_seconds`), or that grew by `every_events` since. A chain
    that grew by more is signed at every `every_events`-th sequence up to its head."""

    def __init__(
        self,
        app: Application[Any],
        pool: ConnectionPool,
        signer: CheckpointSigner,
        *,
        every_seconds: float = EVERY_SECONDS,
        every_events: int = EVERY_EVENTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.pool = pool
        self.signer = signer
        self.every_seconds = every_seconds
        self.every_events = every_events
        self.clock = clock

    def due(self) -> list[UUID]:
        seconds = max(self.every_seconds - JOB_INTERVAL, 0)
        with self.pool.connection() as conn:
            rows = conn.execute(_DUE, {"events": self.every_events, "seconds": seconds}).fetchall()
        return [row[0] for row in rows]

    def moved(self) -> list[UUID]:
        """Every tenant whose chain moved since its last recorded checkpoint, or was
        rewritten under it (`checkpoint` refuses those)."""
        with self.pool.connection() as conn:
            moved = [row[0] for row in conn.execute(_MOVED).fetchall()]
        return sorted({*moved, *self.rewritten()}, key=str)

    def rewritten(self) -> list[UUID]:
        """Every tenant whose chain no longer has the hash its latest checkpoint signed."""
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(_REWRITTEN).fetchall()]

    def run_due(self) -> int:
        """The scheduler's job: checkpoint every chain that is due, and refuse (logging an
        error) every chain rewritten under its latest checkpoint; the count made."""
        made = 0
        for tenant_id in sorted({*self.due(), *self.rewritten()}, key=str):
            try:
                made += len(self.checkpoint(tenant_id))
            except ChainRewrittenError as exc:
                log.error(
                    "audit chain rewritten: not signed",
                    extra={"tenant_id": str(tenant_id), "sequence": exc.sequence},
                )
            except Exception:  # one tenant's failure must not stop the others
                log.exception("audit checkpoint failed", extra={"tenant_id": str(tenant_id)})
        return made

    def checkpoint(self, tenant_id: UUID) -> list[dict[str, Any]]:
        """Sign a tenant's chain up to its head (at most `every_events` apart) and record the
        checkpoints; the checkpoints made (none when the head is already checkpointed, or
        another process recorded the same one first). ChainRewrittenError, signing
        nothing, when the chain no longer matches the latest checkpoint recorded."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT sequence, checkpoint_sequence FROM audit_heads WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchone()
            if row is None:
                return []
            head, last = int(row[0]), int(row[1])
            latest = conn.execute(_LATEST, (tenant_id,)).fetchone()
            if latest is not None and (latest[2] is None or bytes(latest[1]) != bytes(latest[2])):
                raise ChainRewrittenError(tenant_id, int(latest[0]))
            targets: list[int] = []
            while last < head:
                last = min(head, last + self.every_events)
                targets.append(last)
            if not targets:
                return []
            hashes: dict[int, bytes] = {
                int(sequence): bytes(chain_hash)
                for sequence, chain_hash in conn.execute(
                    "SELECT sequence, chain_hash FROM audit_chain"
                    " WHERE tenant_id = %s AND sequence = ANY(%s)",
                    (tenant_id, targets),
                )
            }
        ctx = Context(tenant_id, SYSTEM, f"audit-checkpoint-{tenant_id}-{head}")
        made: list[dict[str, Any]] = []
        for sequence in targets:
            checkpoint = self.sign(tenant_id, sequence, hashes[sequence])
            try:
                self.app.save(AuditCheckpoint.record(ctx, checkpoint))
            except IntegrityError:
                continue  # another process recorded this checkpoint a moment ago
            made.append(checkpoint)
        return made

    def sign(self, tenant_id: UUID, sequence: int, chain_hash: bytes) -> dict[str, Any]:
        signed_at = isoformat(self.clock())
        message = checkpoint_message(str(tenant_id), sequence, chain_hash.hex(), signed_at)
        return {
            "tenant_id": str(tenant_id),
            "sequence": sequence,
            "chain_hash": chain_hash.hex(),
            "signed_at": signed_at,
            "key_id": self.signer.key_id,
            "signature": self.signer.sign(message),
        }
