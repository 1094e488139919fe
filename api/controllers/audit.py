"""AuditController: `/v1/audit/…`, what an auditor needs to check the hash chain."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter

from api.auth import Principal, scoped
from api.errors import ProblemError
from api.parameters import invalid, list_position
from api.schemas.audit import (
    Checkpoint,
    CheckpointList,
    KeyEntry,
    KeyList,
    Mismatch,
    PublicKey,
    Verification,
)
from api.schemas.common import CursorParam, Limit
from api.services import ApiServices
from projections.audit.verify import ChainVerifier
from projections.audit.view import AuditView

VERIFY_EVENTS = 100_000  # a tenant's events recomputed per call at most
VERIFY_ROWS = 2_000_000  # stored events (every tenant's) read per call at most


class AuditController(Controller):
    path = "/audit"
    tags = ["Audit"]

    @get(
        "/public-key",
        operation_id="GetAuditPublicKey",
        summary="Get the checkpoint signing key",
        response_description="The Ed25519 public key that signs new checkpoints.",
        sync_to_thread=True,
        **scoped("events:read", 404),
    )
    def public_key(self, services: ApiServices) -> PublicKey:
        """The Ed25519 public key new checkpoints are signed with. Verify a checkpoint's
        `signature` (base64) over the UTF-8 bytes of
        `syncline-checkpoint:v1:{tenant_id}:{sequence}:{chain_hash}:{signed_at}` with it.
        Keep a copy outside Syncline: it is what makes a checkpoint you hold trustworthy."""
        keys = AuditView(services.pool).keys()
        current = [k for k in keys if k["key_id"] == services.audit_key_id] or keys[-1:]
        if not current:
            raise ProblemError(404, "no checkpoint signing key yet", slug="not-found")
        key = current[0]
        return PublicKey(key["algorithm"], key["public_key"], key["key_id"])

    @get(
        "/keys",
        operation_id="ListAuditKeys",
        summary="List every checkpoint signing key",
        response_description="Every key that has signed checkpoints, oldest first.",
        sync_to_thread=True,
        **scoped("events:read"),
    )
    def keys(self, services: ApiServices) -> KeyList:
        """Every key that has signed checkpoints, oldest first, so a checkpoint signed before
        a key rotation still verifies: pick the key by the checkpoint's `key_id`."""
        keys = msgspec.convert(AuditView(services.pool).keys(), list[KeyEntry])
        return KeyList(data=keys, next_cursor=None, has_more=False)

    @get(
        "/checkpoints",
        operation_id="ListAuditCheckpoints",
        summary="List signed checkpoints",
        response_description="A page of your chain's signed checkpoints, oldest first.",
        sync_to_thread=True,
        **scoped("events:read"),
    )
    def checkpoints(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        cursor: CursorParam | None = None,
        limit: Limit = 100,
    ) -> CheckpointList:
        """Your chain's checkpoints, oldest first. Each signs the chain's head at `sequence`
        (see GET /v1/audit/public-key). The same checkpoints are `audit.checkpoint` events:
        subscribe a webhook to them to hold your own copy, which proves later that history
        up to it was not rewritten, even by someone holding Syncline's database and key."""
        tenant_id = request.user.tenant_id
        after = 0
        if cursor is not None:
            (after,) = list_position(services, "audit-checkpoints", tenant_id, cursor, 1)
        page = AuditView(services.pool).checkpoints(tenant_id, after=int(after), limit=limit)
        next_cursor = (
            services.cursors.encode("audit-checkpoints", tenant_id, [page.items[-1]["sequence"]])
            if page.has_more
            else None
        )
        return CheckpointList(
            data=msgspec.convert(page.items, list[Checkpoint]),
            next_cursor=next_cursor,
            has_more=page.has_more,
        )

    @get(
        "/verify",
        operation_id="VerifyAuditChain",
        summary="Verify the audit chain",
        response_description="How far the chain was recomputed, and the first mismatch if any.",
        sync_to_thread=True,
        **scoped("events:read"),
    )
    def verify(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        from_sequence: Annotated[
            int,
            Parameter(ge=1, description="The first sequence to check (1: the whole chain)."),
        ] = 1,
    ) -> Verification:
        """Recomputes your chain from the event store's own rows, from `from_sequence`, up
        to 100,000 events per call, comparing every event and hash with the recorded chain
        and checking every checkpoint's signature on the way. The answer says how far it
        got (`verified_through`) and where to continue (`next_from_sequence`, null at the
        head), or names the first event that does not match (`mismatch`)."""
        tenant_id = request.user.tenant_id
        head, _ = AuditView(services.pool).head(tenant_id)
        if from_sequence > head + 1:
            raise invalid("from_sequence", f"is past the head of the chain (sequence {head})")
        if head == 0:  # no event yet: nothing to recompute
            return Verification(tenant_id, True, from_sequence, 0, 0, None, None)
        report = ChainVerifier(services.app, services.pool).verify(
            tenant_id, from_sequence=from_sequence, max_events=VERIFY_EVENTS, max_rows=VERIFY_ROWS
        )
        check = report.tenants[str(tenant_id)]
        if check.mismatch is not None:
            m = check.mismatch
            mismatch = Mismatch(m.sequence, m.event_id, m.reason)
        else:
            mismatch = None
        more = check.limit_reached or not report.complete
        return Verification(
            tenant_id=tenant_id,
            intact=mismatch is None,
            from_sequence=from_sequence,
            verified_through=check.verified,
            checkpoints_verified=check.checkpoints,
            next_from_sequence=check.verified + 1 if more and mismatch is None else None,
            mismatch=mismatch,
        )
