"""ChainVerifier: recomputes the tenants' chains from the event store's own rows.

It reads the eventsourcing table itself (not a read model), decodes each stored event as
the application does, recomputes every chain and compares, at each sequence, the event and
hash the `audit_chain` table recorded; it checks every checkpoint's signature (with the
keys the caller pins, else those the database holds) and that the hash it signed is the
chain's. A modified, deleted, reordered or inserted row makes the first affected sequence
differ; the first mismatch of each tenant is reported and that tenant's check stops there,
the others go on. Over the range each check verified, what auditors are shown must agree
with the chain (`projections.audit.shown`): the event log lists exactly the chained events,
and the checkpoints listed are the signed ones. It also keeps the recomputed hash at the
sequences of the checkpoints an auditor kept outside Syncline (projections.audit.trust
compares them). Everything is read in one REPEATABLE READ transaction (one snapshot of
the log and the chain), the log through a server-side cursor, so memory stays constant
at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.application import Application
from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.audit import AuditCheckpoint
from domain.envelope import event_id
from domain.event_classes import instance_of
from projections.audit.chain import canonical_bytes, chained_type, next_hash
from projections.audit.report import Mismatch, Report, TenantCheck
from projections.audit.shown import (
    Listed,
    check_shown,
    listed_checkpoints,
    listed_form,
    listing_problem,
)
from projections.audit.trust import signature_problem
from projections.audit.view import chain_head
from projections.event_decoder import EventDecoder

FLUSH = 2000  # events recomputed between two look-ups of the recorded chain
_CHECKPOINT = instance_of(AuditCheckpoint.Created)


@dataclass
class _Pending:
    tenant: TenantCheck
    sequence: int
    event_id: str
    chain_hash: bytes
    checkpoint: bool = False  # a checkpoint's claim about the chain, not an event
    problem: str | None = None  # a checkpoint's: its key or signature does not verify
    listed: Listed | None = None  # a checkpoint's: how `audit_checkpoints` must hold it


class ChainVerifier:
    def __init__(self, app: Application[Any], pool: ConnectionPool) -> None:
        self.app = app
        self.pool = pool
        self.decoder = EventDecoder(app.mapper)
        recorder: Any = app.recorder
        self._rows = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id"
        ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))

    def verify(
        self,
        tenant: UUID | None = None,
        *,
        from_sequence: int = 1,
        max_events: int | None = None,
        max_rows: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        unchained: bool = False,
        keys: Mapping[str, Ed25519PublicKey] | None = None,
        wanted: Mapping[str, Iterable[int]] | None = None,
    ) -> Report:
        """Check every tenant's chain (or one tenant's, from `from_sequence`, at most
        `max_events` of its events); `progress(done, to do)` after each batch: rows read
        of the log, or for one tenant, its events recomputed of its chain's. With
        `unchained`, also count each tenant's events stored after the audit projection's
        position (written, not chained yet: the projection is behind).

        Checkpoints must be signed with one of `keys` (by key_id), when given: the
        caller's, pinned; else with the keys the database holds. `wanted`: by tenant, the
        sequences at which the hash recomputed from the event store is to be kept in the
        report (`TenantCheck.hashes`), for the checkpoints an auditor kept; that chain is
        recomputed up to the last of them even past a mismatch and, with `unchained`, over
        events not chained yet."""
        with self.pool.connection() as conn:
            conn.autocommit = False
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                report = Report(
                    {},
                    every_tenant=tenant is None,
                    keys=dict(keys) if keys is not None else _stored_keys(conn),
                    pinned=keys is not None,
                    wanted={t: frozenset(s) for t, s in (wanted or {}).items()},
                )
                self._verify(conn, report, tenant, from_sequence, max_events, max_rows, progress)
                if unchained and report.complete:
                    self._count_unchained(conn, report)
                return report
            finally:
                conn.rollback()
                conn.autocommit = True
                conn.isolation_level = None

    def _verify(
        self,
        conn: psycopg.Connection[Any],
        report: Report,
        tenant: UUID | None,
        from_sequence: int,
        max_events: int | None,
        max_rows: int | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = 'audit'"
        ).fetchone()
        if tenant is None:
            for (head,) in conn.execute("SELECT tenant_id FROM audit_heads"):
                report.check(str(head))
        else:
            report.check(str(tenant))
        checks = report.tenants
        after = 0
        if tenant is not None and from_sequence > 1:
            start = conn.execute(
                "SELECT position, chain_hash FROM audit_chain WHERE tenant_id = %s"
                " AND sequence = %s",
                (tenant, from_sequence - 1),
            ).fetchone()
            if start is None:
                return  # nothing recorded there yet: nothing to check
            after = int(start[0])
            check = checks[str(tenant)]
            check.sequence, check.chain_hash = from_sequence - 1, bytes(start[1])
            check.verified = from_sequence - 1
            # What a rewrite found in this range is bounded by its start, which the calls
            # before it verified (`GET /v1/audit/verify` goes on from where the last ended).
            check.last_checkpoint = from_sequence - 1
        report.tracked = tracked = int(row[0]) if row else 0
        pending: list[_Pending] = []
        total = max(tracked - after, 0)
        done: Callable[[], int] = lambda: report.rows  # noqa: E731
        if tenant is not None:  # its own events, not every tenant's rows
            head, _ = chain_head(conn, tenant)
            total = max(head - (from_sequence - 1), 0)
            if max_events is not None:
                total = min(total, max_events)
            only = checks[str(tenant)]
            done = lambda: only.checked  # noqa: E731
        with conn.cursor(name="audit_verify") as cur:
            cur.itersize = FLUSH
            cur.execute(self._rows, (after, tracked))
            for position, originator_id, version, topic, state in cur:
                report.rows += 1
                if max_rows is not None and report.rows > max_rows:
                    report.complete = False
                    break
                self._check_row(
                    report,
                    pending,
                    position,
                    originator_id,
                    version,
                    topic,
                    state,
                    max_events,
                )
                if len(pending) >= FLUSH:
                    self._compare(conn, pending)
                    pending = []
                    if progress is not None:
                        progress(done(), total)
                if not report.every_tenant and all(
                    c.limit_reached or not (c.intact or c.wants_more) for c in checks.values()
                ):  # nothing left to check: the tenant failed or reached `max_events`
                    report.complete = not any(c.limit_reached for c in checks.values())
                    break
        self._compare(conn, pending)
        if progress is not None:
            progress(total if report.complete else done(), total)
        if report.complete:
            self._check_ends(conn, checks.values())
        for check in checks.values():
            reached_head = report.complete and not check.limit_reached
            check_shown(conn, check, after, tracked if reached_head else None)

    def _check_row(
        self,
        report: Report,
        pending: list[_Pending],
        position: int,
        originator_id: UUID,
        version: int,
        topic: str,
        state: bytes,
        max_events: int | None,
    ) -> None:
        try:
            event = self.decoder.decode(originator_id, version, topic, bytes(state))
            tenant_id = event.meta["tenant_id"] if hasattr(event, "meta") else None
        except Exception as exc:
            report.undecodable.append(
                f"{event_id(originator_id, version)} (log position {position}) does not"
                f" decode: {type(exc).__name__}"
            )
            return
        check = report.tenants.get(tenant_id) if tenant_id is not None else None
        if check is None and report.every_tenant and tenant_id is not None:
            if chained_type(event) is None and not _CHECKPOINT(event):
                return
            check = report.check(tenant_id)  # its chain is gone
        if check is None or check.limit_reached or not (check.intact or check.wants_more):
            return
        if _CHECKPOINT(event):
            if check.intact:
                self._check_signature(check, report, event, position, pending)
            return
        event_type = chained_type(event)
        if event_type is None:
            return
        check.recomputed(next_hash(check.chain_hash, canonical_bytes(event, event_type)))
        if not check.intact:
            return  # recomputed for the kept checkpoints only: its check stopped
        pending.append(
            _Pending(check, check.sequence, event_id(originator_id, version), check.chain_hash)
        )
        check.checked += 1
        if max_events is not None and check.checked >= max_events:
            check.limit_reached = True

    def _check_signature(
        self,
        check: TenantCheck,
        report: Report,
        event: Any,
        position: int,
        pending: list[_Pending],
    ) -> None:
        state = event.state
        name = event_id(event.originator_id, event.originator_version)
        sequence = int(state["sequence"])
        check.listed.append(sequence)
        problem = signature_problem(state, report.keys, report.trusted)
        if problem is not None:  # reported in log order, after the events before it
            pending.append(
                _Pending(check, sequence, name, b"", True, f"this checkpoint's {problem}")
            )
            return
        chain_hash = bytes.fromhex(state["chain_hash"])
        listed = listed_form(position, state)
        pending.append(_Pending(check, sequence, name, chain_hash, True, listed=listed))

    def _compare(self, conn: psycopg.Connection[Any], pending: list[_Pending]) -> None:
        """Compare what was recomputed with what the chain recorded, in log order."""
        if not pending:
            return
        recorded = {
            (str(tenant), int(sequence)): (event, bytes(chain_hash))
            for tenant, sequence, event, chain_hash in conn.execute(
                "SELECT c.tenant_id, c.sequence, c.event_id, c.chain_hash FROM audit_chain c"
                " JOIN unnest(%s::uuid[], %s::int8[]) AS k(tenant_id, sequence)"
                " USING (tenant_id, sequence)",
                ([p.tenant.tenant_id for p in pending], [p.sequence for p in pending]),
            )
        }
        listed = listed_checkpoints(
            conn, [(p.tenant.tenant_id, p.sequence) for p in pending if p.listed is not None]
        )
        for item in pending:
            check = item.tenant
            if check.mismatch is not None:
                continue
            found = recorded.get((check.tenant_id, item.sequence))
            if item.problem is not None:
                check.mismatch = Mismatch(item.sequence, item.event_id, item.problem)
            elif item.checkpoint:
                shown = listing_problem(listed.get((check.tenant_id, item.sequence)), item.listed)
                if found is None or found[1] != item.chain_hash:
                    # Every event up to it matched the chain as recorded, so the chain was
                    # recomputed after a rewrite: since the last checkpoint that verified.
                    check.verified = check.last_checkpoint
                    check.mismatch = Mismatch(
                        item.sequence,
                        item.event_id,
                        "the chain hash this checkpoint signed is not the chain's: history"
                        f" after sequence {check.last_checkpoint} and up to this one was"
                        " rewritten since it was signed",
                    )
                elif shown is not None:
                    check.mismatch = Mismatch(item.sequence, item.event_id, shown)
                else:
                    check.checkpoints += 1
                    check.last_checkpoint = item.sequence
            elif found is None:
                check.mismatch = Mismatch(
                    item.sequence,
                    item.event_id,
                    "this event is in the event store but not in the chain (inserted)",
                )
            elif found[0] != item.event_id:
                check.mismatch = Mismatch(
                    item.sequence,
                    found[0],
                    f"the chain recorded {found[0]} here but the event store has"
                    f" {item.event_id} (an event was deleted, inserted or reordered)",
                )
            elif found[1] != item.chain_hash:
                check.mismatch = Mismatch(
                    item.sequence,
                    item.event_id,
                    "the stored event, or the hash the chain recorded for it, changed since"
                    " it was chained (modified)",
                )
            if check.mismatch is None and not item.checkpoint:
                check.verified = item.sequence

    def _check_ends(self, conn: psycopg.Connection[Any], checks: Iterable[TenantCheck]) -> None:
        """A chain recorded past the events found: the missing ones were deleted."""
        for check in checks:
            if check.mismatch is not None or check.limit_reached:
                continue
            row = conn.execute(
                "SELECT sequence, event_id FROM audit_chain WHERE tenant_id = %s"
                " AND sequence > %s ORDER BY sequence LIMIT 1",
                (check.tenant_id, check.sequence),
            ).fetchone()
            if row is not None:
                check.mismatch = Mismatch(
                    int(row[0]),
                    str(row[1]),
                    "the chain recorded this event but the event store no longer has it (deleted)",
                )

    def _count_unchained(self, conn: psycopg.Connection[Any], report: Report) -> None:
        """Each tenant's chained-to-be events stored after the audit projection's position
        (recomputed into its chain while a kept checkpoint wants it)."""
        with conn.cursor(name="audit_unchained") as cur:
            cur.itersize = FLUSH
            cur.execute(self._rows, (report.tracked, 2**63 - 1))
            for _, originator_id, version, topic, state in cur:
                try:
                    event = self.decoder.decode(originator_id, version, topic, bytes(state))
                    tenant_id = event.meta["tenant_id"]
                except Exception:  # noqa: S112 (not chained either way: the projection decides)
                    continue
                event_type = chained_type(event)
                if event_type is None:
                    continue
                check = report.tenants.get(tenant_id)
                if check is None and report.every_tenant:
                    check = report.check(tenant_id)
                if check is None:
                    continue
                check.unchained += 1
                if check.wants_more:  # a kept checkpoint signed it: chain it here
                    check.recomputed(
                        next_hash(check.chain_hash, canonical_bytes(event, event_type))
                    )


def _stored_keys(conn: psycopg.Connection[Any]) -> dict[str, Ed25519PublicKey]:
    """The public keys the database's `audit_keys` holds, by key_id."""
    return {
        str(key_id): Ed25519PublicKey.from_public_bytes(bytes(public))
        for key_id, public in conn.execute("SELECT key_id, public_key FROM audit_keys")
    }
