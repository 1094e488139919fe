"""AuditView: the audit chain's read side (keys, checkpoints, heads) and the export."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.application import Application
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.audit.chain import GENESIS
from projections.audit.signing import key_document
from projections.changes.cursor import encode_change_cursor
from projections.cursor import CursorCodec
from projections.events.log import EnvelopeRenderer, event_store_table
from projections.events.projection import CURSOR_PLACEHOLDER

EXPORT_FETCH = 2000  # rows per round trip of the export's server-side cursor
_encode = msgspec.json.Encoder().encode


def chain_head(conn: Any, tenant_id: UUID) -> tuple[int, bytes]:
    """A tenant's chain head on `conn` (in its snapshot): its sequence and hash (0 and 32
    zero bytes if it has none)."""
    row = conn.execute(
        "SELECT sequence, chain_hash FROM audit_heads WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)


class ExportIncompleteError(Exception):
    """The export cannot go on: the chain has a gap (an `audit_chain` row, or the event
    store row it names, is missing), a stored event no longer decodes, or the chain ends
    before its recorded head. Raised instead of ending the export early, so that what was
    written is never mistaken for a complete export; `syncline audit verify` says why."""

    def __init__(self, tenant_id: UUID, sequence: int, reason: str) -> None:
        self.tenant_id = tenant_id
        self.sequence = sequence
        self.reason = reason
        super().__init__(f"tenant {tenant_id}: the export stops at sequence {sequence}: {reason}")


@dataclass(frozen=True)
class CheckpointPage:
    items: list[dict[str, Any]]
    has_more: bool


def checkpoint_document(
    tenant_id: UUID | str,
    sequence: int,
    chain_hash: bytes,
    signed_at: str,
    key_id: str,
    signature: bytes,
) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id),
        "sequence": int(sequence),
        "chain_hash": bytes(chain_hash).hex(),
        "signed_at": signed_at,
        "key_id": key_id,
        "signature": base64.b64encode(bytes(signature)).decode(),
    }


_CHECKPOINT_COLUMNS = "tenant_id, sequence, chain_hash, signed_at, key_id, signature"


class AuditView:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def keys(self) -> list[dict[str, Any]]:
        """Every checkpoint signing key ever used, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT key_id, public_key, first_used_at FROM audit_keys"
                " ORDER BY first_used_at, key_id"
            ).fetchall()
        return [key_document(k, bytes(p), f) for k, p, f in rows]

    def checkpoints(self, tenant_id: UUID, *, after: int = 0, limit: int = 100) -> CheckpointPage:
        """A tenant's checkpoints after sequence `after`, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints"
                " WHERE tenant_id = %s AND sequence > %s ORDER BY sequence LIMIT %s",
                (tenant_id, after, limit + 1),
            ).fetchall()
        return CheckpointPage([checkpoint_document(*r) for r in rows[:limit]], len(rows) > limit)

    def head(self, tenant_id: UUID) -> tuple[int, bytes]:
        """The tenant's chain head: its sequence and hash (0 and 32 zero bytes if empty)."""
        with self.pool.connection() as conn:
            return chain_head(conn, tenant_id)

    def export(
        self,
        cursors: CursorCodec,
        tenant_id: UUID,
        *,
        app: Application[Any],
        after_position: int | None = None,
    ) -> Iterator[bytes]:
        """NDJSON lines of a tenant's export: a start line (after a cursor), then every
        chained event's envelope with `sequence` and `chain_hash`, then the checkpoints
        of the exported range. One snapshot, read through a server-side cursor; each
        envelope is rendered from the event store's row, as /v1/events renders it."""
        renderer = EnvelopeRenderer(app)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            start, previous = 0, GENESIS
            if after_position is not None:
                row = conn.execute(
                    "SELECT sequence, chain_hash FROM audit_chain WHERE tenant_id = %s"
                    " AND position <= %s ORDER BY position DESC LIMIT 1",
                    (tenant_id, after_position),
                ).fetchone()
                if row is not None:
                    start, previous = int(row[0]), bytes(row[1])
                yield _line(
                    {
                        "export_start": {
                            "tenant_id": str(tenant_id),
                            "sequence": start,
                            "chain_hash": previous.hex(),
                        }
                    }
                )
            end = start
            with conn.cursor(name="audit_export") as cur:
                cur.itersize = EXPORT_FETCH
                cur.execute(
                    sql.SQL(
                        "SELECT c.sequence, c.position, c.chain_hash, s.originator_id,"
                        " s.originator_version, s.topic, s.state"
                        " FROM audit_chain c LEFT JOIN {} s ON s.notification_id = c.position"
                        " WHERE c.tenant_id = %s AND c.sequence > %s ORDER BY c.sequence"
                    ).format(event_store_table(app)),
                    (tenant_id, start),
                )
                for sequence, position, chain_hash, *event in cur:
                    if sequence != end + 1:  # a chain is gapless: never export past a gap
                        raise ExportIncompleteError(
                            tenant_id, end + 1, "the audit chain has no row for it (deleted)"
                        )
                    if event[0] is None:
                        raise ExportIncompleteError(
                            tenant_id,
                            sequence,
                            f"the event store has no event at log position {position} (deleted)",
                        )
                    try:
                        stored = renderer.render(*event)
                    except Exception as exc:
                        raise ExportIncompleteError(
                            tenant_id,
                            sequence,
                            f"the stored event at log position {position} does not decode"
                            f" ({type(exc).__name__})",
                        ) from exc
                    end = sequence
                    cursor = encode_change_cursor(cursors, tenant_id, position)
                    text = stored.replace(CURSOR_PLACEHOLDER, f'"cursor":"{cursor}"', 1)
                    yield (
                        f'{text[:-1]},"sequence":{sequence},'
                        f'"chain_hash":"{bytes(chain_hash).hex()}"}}\n'
                    ).encode()
            head, _ = chain_head(conn, tenant_id)
            if head > end:
                raise ExportIncompleteError(
                    tenant_id,
                    end + 1,
                    f"the audit chain's head is at sequence {head} but its rows end at"
                    f" {end} (deleted)",
                )
            rows = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tenant_id = %s"
                " AND sequence > %s AND sequence <= %s ORDER BY sequence",
                (tenant_id, start, end),
            )
            for checkpoint in rows:
                yield _line({"checkpoint": checkpoint_document(*checkpoint)})


def _line(document: dict[str, Any]) -> bytes:
    return _encode(document) + b"\n"
