"""Syncline's command side: the eventsourcing Application that loads and saves aggregates."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.contact import Contact
from domain.context import Actor, Context
from domain.credential import ApiKey, Credential, OAuthClient
from domain.envelope import render_record
from domain.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidFieldError,
    PreconditionFailedError,
    RecordNotFoundError,
)
from domain.events import check_event_types
from domain.order import Order
from domain.record import Record
from domain.tenant import Tenant
from domain.webhook import DEFAULT_GRACE, WebhookSubscription, new_webhook_secret

R = TypeVar("R", bound=Record)
C = TypeVar("C", bound=Credential)
F = TypeVar("F", bound=Callable[..., Any])
KIND_NAMES: dict[type[Credential], str] = {ApiKey: "API key", OAuthClient: "OAuth client"}
IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://syncline.dev/idempotency-key")
CONFLICT_RETRIES = 5


def request_fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _collect(aggregates: Sequence[Aggregate]) -> ProcessingEvent[UUID]:
    """What ProcessingEvent.collect_events() does for aggregates, less its isinstance checks
    against runtime Protocols: slow on Python 3.11, they were about a sixth of a create's
    instructions."""
    processing = ProcessingEvent[UUID]()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    return processing


def retrying_conflicts(method: F) -> F:
    """Re-run a load-change-save command when a concurrent save got there first."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(CONFLICT_RETRIES):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    return cast(F, wrapper)


class Syncline(Application[UUID]):
    """Commands on tenants, credentials and records; every change is saved as events."""

    name = "syncline"

    # -- records ---------------------------------------------------------------------------
    def create_record(
        self,
        kind: type[R],
        ctx: Context,
        fields: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> tuple[R, bool]:
        """Create a record; answer it and whether it is new.

        With an Idempotency-Key the record's id is derived from the key, so the event store's
        uniqueness constraint makes a retried request return the first answer atomically.
        """
        if idempotency_key is None:
            record_id = uuid4()
        else:
            record_id = uuid5(
                IDEMPOTENCY_NAMESPACE, f"{ctx.tenant_id}/{kind.RESOURCE}/{idempotency_key}"
            )
            # A retry answers the first response even if, say, the order's contact has
            # been deleted since: look for the first attempt before validating again.
            first = self._first_answer(kind, ctx, record_id, request_hash)
            if first is not None:
                return first, False
        if kind is Order:
            self.require_contact(ctx, fields.get("contact_id"))
        record = self.new_record(kind, ctx, fields, id=record_id, request_hash=request_hash)
        try:
            self.save(record)
        except IntegrityError:
            if idempotency_key is None:
                raise
            # A concurrent request with the same key won the race.
            first = self._first_answer(kind, ctx, record_id, request_hash)
            if first is None:
                raise
            return first, False
        return record, True

    def new_record(
        self,
        kind: type[R],
        ctx: Context,
        fields: dict[str, Any],
        *,
        id: UUID | None = None,
        request_hash: str | None = None,
    ) -> R:
        """A new record with its Created event pending, not yet saved. Reads nothing, so
        only for records that reference no other (see `create_record`)."""
        record: R = kind.create(  # type: ignore[attr-defined]
            ctx, fields, id=id or uuid4(), request_hash=request_hash
        )
        return record

    @property
    def saves_async(self) -> bool:
        """Whether `save_async` can skip the worker thread: the recorder group-commits and
        save() has nothing else to do (no aggregate cache, no snapshots)."""
        return (
            hasattr(self.recorder, "insert_events_async")
            and self.repository.cache is None
            and self.snapshots is None
        )

    async def save_async(self, *aggregates: Aggregate) -> None:
        """save() for a caller on an event loop: the aggregates' pending events are encoded
        here and their commit awaited, with no worker thread. Requires `saves_async`."""
        if not self.saves_async:
            raise RuntimeError("save_async needs a group-commit recorder and no cache")
        to_stored = self.mapper.to_stored_event
        stored = [to_stored(event) for event in _collect(aggregates).events]
        await self.recorder.insert_events_async(stored)  # type: ignore[attr-defined]

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Application.save(), step for step, except that plain aggregates' pending events
        are collected directly (see `_collect`); anything else goes to the library's own."""
        if kwargs or not all(isinstance(obj, Aggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        processing = _collect(objs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, as save() calls it
        return recordings

    def _first_answer(
        self, kind: type[R], ctx: Context, record_id: UUID, request_hash: str | None
    ) -> R | None:
        """The record as an idempotent create first made it, or None if it was not made."""
        try:
            first: R = self.repository.get(record_id, version=1)
        except AggregateNotFoundError:
            return None
        if (
            not isinstance(first, kind)
            or first.tenant_id != ctx.tenant_id
            or first.request_hash != request_hash
        ):
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was already used with a different request"
            )
        return first

    def get_record(
        self, kind: type[R], ctx: Context, record_id: UUID, *, version: int | None = None
    ) -> R:
        """The tenant's live record (or, with `version`, its state then)."""
        record = self._load(kind, ctx, record_id, version=version)
        if record.deleted and version is None:
            raise RecordNotFoundError(f"no {kind.RESOURCE} {record_id}")
        return record

    def update_record(
        self,
        kind: type[R],
        ctx: Context,
        record_id: UUID,
        command: Callable[[R], object],
        *,
        if_match: int | None = None,
    ) -> R:
        """Run `command` on the current record and save it, retrying on a concurrent write."""
        for attempt in range(CONFLICT_RETRIES):
            record = self.get_record(kind, ctx, record_id)
            if if_match is not None and record.version != if_match:
                raise PreconditionFailedError(
                    f"{kind.RESOURCE} {record_id} is at version {record.version}, not {if_match}"
                )
            command(record)
            try:
                self.save(record)
            except IntegrityError:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                continue
            return record
        raise AssertionError("unreachable")

    def history(self, kind: type[R], ctx: Context, record_id: UUID) -> list[Any]:
        """Every event of one record, oldest first (deleted records included)."""
        self._load(kind, ctx, record_id)
        return list(self.repository.event_store.get(record_id))

    def record_at(
        self,
        kind: type[R],
        ctx: Context,
        record_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """The record's representation at `version`, or as it stood at the moment `as_of`.

        Every event carries the record's full state, so this reads one event, not the
        whole history. Before its creation, and once deleted, the record did not exist.
        """
        self._load(kind, ctx, record_id, version=1)  # exists, is this kind, is the tenant's
        store = self.repository.event_store
        if version is not None:
            events = list(store.get(record_id, gt=version - 1, lte=version))
            if not events:
                raise RecordNotFoundError(f"{kind.RESOURCE} {record_id} has no version {version}")
            event: Any = events[0]
        else:
            assert as_of is not None
            history: Any = store.get(record_id, desc=True)
            event = next((e for e in history if e.timestamp <= as_of), None)
            if event is None:
                raise RecordNotFoundError(
                    f"{kind.RESOURCE} {record_id} did not exist yet at {as_of}"
                )
        if isinstance(event, Record.Deleted):
            raise RecordNotFoundError(
                f"{kind.RESOURCE} {record_id} was deleted at version {event.originator_version}"
            )
        return render_record(record_id, event.state, event.originator_version, event.timestamp)

    def _load(
        self, kind: type[R], ctx: Context, record_id: UUID, *, version: int | None = None
    ) -> R:
        try:
            record: R = self.repository.get(record_id, version=version)
        except AggregateNotFoundError:
            raise RecordNotFoundError(f"no {kind.RESOURCE} {record_id}") from None
        if not isinstance(record, kind) or record.tenant_id != ctx.tenant_id:
            raise RecordNotFoundError(f"no {kind.RESOURCE} {record_id}")
        return record

    def require_contact(self, ctx: Context, contact_id: Any) -> None:
        try:
            self.get_record(Contact, ctx, UUID(str(contact_id)))
        except (ValueError, RecordNotFoundError):
            raise InvalidFieldError("contact_id", f"no contact {contact_id}") from None

    # -- webhook subscriptions -------------------------------------------------------------
    def create_webhook(
        self,
        ctx: Context,
        *,
        url: str,
        event_types: list[str],
        description: str | None,
        seal: Callable[[str], str],
    ) -> tuple[WebhookSubscription, str]:
        """A new subscription and its secret (in clear only in this answer; `seal` stores it)."""
        secret = new_webhook_secret()
        subscription = WebhookSubscription.create(
            ctx,
            id=uuid4(),
            url=url,
            event_types=check_event_types(event_types),
            description=description,
            secret=seal(secret),
        )
        self.save(subscription)
        return subscription, secret

    def get_webhook(self, ctx: Context, webhook_id: UUID) -> WebhookSubscription:
        """The tenant's live subscription; another tenant's or a deleted one is not found."""
        try:
            subscription: WebhookSubscription = self.repository.get(webhook_id)
        except AggregateNotFoundError:
            raise RecordNotFoundError(f"no webhook {webhook_id}") from None
        if (
            not isinstance(subscription, WebhookSubscription)
            or subscription.tenant_id != ctx.tenant_id
            or subscription.deleted
        ):
            raise RecordNotFoundError(f"no webhook {webhook_id}")
        return subscription

    def change_webhook(
        self,
        ctx: Context,
        webhook_id: UUID,
        command: Callable[[WebhookSubscription], object],
    ) -> tuple[WebhookSubscription, list[Any]]:
        """Run `command` on the subscription and save it; answer it and the new recordings."""
        for attempt in range(CONFLICT_RETRIES):
            subscription = self.get_webhook(ctx, webhook_id)
            command(subscription)
            try:
                recordings = self.save(subscription)
            except IntegrityError:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                continue
            return subscription, recordings
        raise AssertionError("unreachable")

    def update_webhook(
        self, ctx: Context, webhook_id: UUID, changes: dict[str, Any], status: str | None = None
    ) -> WebhookSubscription:
        """Change a subscription's fields and, with `status`, disable or re-enable it."""
        if "event_types" in changes:
            changes = {**changes, "event_types": check_event_types(changes["event_types"])}

        def command(subscription: WebhookSubscription) -> None:
            subscription.update(ctx, changes)
            if status == "disabled" and subscription.status != "disabled":
                subscription.disable(ctx, "manual")
            elif status == "active" and subscription.status != "active":
                subscription.enable(ctx)

        return self.change_webhook(ctx, webhook_id, command)[0]

    def rotate_webhook_secret(
        self,
        ctx: Context,
        webhook_id: UUID,
        *,
        seal: Callable[[str], str],
        grace: timedelta = DEFAULT_GRACE,
    ) -> tuple[WebhookSubscription, str]:
        """A new secret for the subscription; the old one also signs until the grace ends."""
        secret = new_webhook_secret()
        subscription, _ = self.change_webhook(
            ctx, webhook_id, lambda s: s.rotate_secret(ctx, seal(secret), grace)
        )
        return subscription, secret

    def disable_webhook(self, ctx: Context, webhook_id: UUID, reason: str) -> bool:
        """Disable a subscription (its endpoint is gone or failing); False if it already was."""
        try:
            self.change_webhook(ctx, webhook_id, lambda s: s.disable(ctx, reason))
        except (RecordNotFoundError, ConflictError):
            return False
        return True

    # -- tenants and credentials -----------------------------------------------------------
    def provision_tenant(
        self, ctx: Context, name: str, scopes: list[str]
    ) -> tuple[Tenant, ApiKey, str, OAuthClient, str]:
        """A tenant with a fresh API key and OAuth client, saved atomically."""
        # The tenant's own id goes into every event's metadata, its creation included.
        tenant_ctx = Context(uuid4(), ctx.actor, ctx.correlation_id)
        tenant = Tenant.create(tenant_ctx, name, id=tenant_ctx.tenant_id)
        api_key, key_secret = ApiKey.issue(tenant_ctx, scopes)
        client, client_secret = OAuthClient.issue(tenant_ctx, scopes)
        self.save(tenant, api_key, client)
        return tenant, api_key, key_secret, client, client_secret

    def get_tenant(self, tenant_id: UUID) -> Tenant:
        try:
            tenant: Tenant = self.repository.get(tenant_id)
        except AggregateNotFoundError:
            raise RecordNotFoundError(f"no tenant {tenant_id}") from None
        if not isinstance(tenant, Tenant):
            raise RecordNotFoundError(f"no tenant {tenant_id}")
        return tenant

    def issue_api_key(
        self,
        ctx: Context,
        scopes: list[str],
        expires_at: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Another API key for the tenant `ctx` names; answers the key and its secret."""
        self.get_tenant(ctx.tenant_id)
        key, secret = ApiKey.issue(ctx, scopes, expires_at, now=now)
        self.save(key)
        return key, secret

    def issue_oauth_client(
        self,
        ctx: Context,
        scopes: list[str],
        expires_at: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> tuple[OAuthClient, str]:
        """Another OAuth client for the tenant `ctx` names; answers it and its secret."""
        self.get_tenant(ctx.tenant_id)
        client, secret = OAuthClient.issue(ctx, scopes, expires_at, now=now)
        self.save(client)
        return client, secret

    @retrying_conflicts
    def suspend_tenant(self, ctx: Context) -> Tenant:
        tenant = self.get_tenant(ctx.tenant_id)
        tenant.suspend(ctx)
        self.save(tenant)
        return tenant

    @retrying_conflicts
    def reactivate_tenant(self, ctx: Context) -> Tenant:
        tenant = self.get_tenant(ctx.tenant_id)
        tenant.reactivate(ctx)
        self.save(tenant)
        return tenant

    def get_credential(self, credential_id: UUID) -> Credential | None:
        try:
            credential: Credential = self.repository.get(credential_id)
        except AggregateNotFoundError:
            return None
        return credential if isinstance(credential, Credential) else None

    def credential_of(self, kind: type[C], credential_id: UUID) -> C:
        """The credential of this kind (an API key is not found as an OAuth client)."""
        credential = self.get_credential(credential_id)
        if not isinstance(credential, kind):
            raise RecordNotFoundError(f"no {KIND_NAMES.get(kind, 'credential')} {credential_id}")
        return credential

    @retrying_conflicts
    def rotate_oauth_client(
        self, actor: Actor, correlation_id: str, client_id: UUID
    ) -> tuple[OAuthClient, str]:
        client = self.credential_of(OAuthClient, client_id)
        secret = client.rotate(Context(client.tenant_id, actor, correlation_id))
        self.save(client)
        return client, secret

    @retrying_conflicts
    def revoke_credential(
        self, kind: type[C], actor: Actor, correlation_id: str, credential_id: UUID
    ) -> C:
        """Revoke a credential; revoking a revoked one changes nothing (DELETE is idempotent)."""
        credential = self.credential_of(kind, credential_id)
        if not credential.revoked:
            credential.revoke(Context(credential.tenant_id, actor, correlation_id))
            self.save(credential)
        return credential

    @retrying_conflicts
    def change_credential_scopes(
        self,
        kind: type[C],
        actor: Actor,
        correlation_id: str,
        credential_id: UUID,
        scopes: list[str],
    ) -> C:
        credential = self.credential_of(kind, credential_id)
        credential.change_scopes(Context(credential.tenant_id, actor, correlation_id), scopes)
        self.save(credential)
        return credential

    @retrying_conflicts
    def expire_credential(
        self, actor: Actor, correlation_id: str, credential_id: UUID, now: datetime
    ) -> bool:
        """Record `Expired` for a credential past its expiry; False when there is nothing to do."""
        credential = self.get_credential(credential_id)
        if credential is None or credential.status != "active":
            return False
        if not credential.is_past_expiry(now):
            return False
        credential.expire(Context(credential.tenant_id, actor, correlation_id), now)
        self.save(credential)
        return True
