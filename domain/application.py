"""Syncline's command side: the eventsourcing Application that loads and saves aggregates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.access import AccessCommands
from domain.context import Context
from domain.envelope import render_record
from domain.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidFieldError,
    PreconditionFailedError,
    RecordNotFoundError,
)
from domain.events import check_event_types
from domain.ids import new_id
from domain.record import Record
from domain.resources import RESOURCES, Resource, resource_of
from domain.retry import retrying_conflicts
from domain.webhook import DEFAULT_GRACE, WebhookSubscription, new_webhook_secret

R = TypeVar("R", bound=Record)
IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://syncline.dev/idempotency-key")


class Syncline(AccessCommands, Application[UUID]):
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
            record_id = new_id()
        else:
            record_id = uuid5(
                IDEMPOTENCY_NAMESPACE, f"{ctx.tenant_id}/{kind.RESOURCE}/{idempotency_key}"
            )
            # A retry answers the first response even if, say, the order's contact has
            # been deleted since: look for the first attempt before validating again.
            first = self._first_answer(kind, ctx, record_id, request_hash)
            if first is not None:
                return first, False
        self._check_references(kind, ctx, fields)
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
        only for records that reference no other (see `references`)."""
        record: R = kind.create(  # type: ignore[attr-defined]
            ctx, fields, id=id or new_id(), request_hash=request_hash
        )
        return record

    @staticmethod
    def references(kind: type[Record]) -> bool:
        """Whether creating a `kind` must read another record (an order's contact)."""
        resource = resource_of(kind)
        return resource is not None and bool(resource.references)

    @property
    def saves_async(self) -> bool:
        """Whether `save_async` can save without a worker thread. No, here: the composition
        root's application says yes when its recorder group-commits (syncline.group_commit)."""
        return False

    async def save_async(self, *aggregates: Aggregate) -> None:
        """save() for a caller on an event loop, awaiting the commit. Requires `saves_async`."""
        raise RuntimeError("save_async needs a group-commit recorder and no cache")

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
        """Run `command` on the current record and save it, retrying on a concurrent write.
        A reference the command changes must name a live record of the tenant."""

        def attempt() -> R:
            record = self.get_record(kind, ctx, record_id)
            if if_match is not None and record.version != if_match:
                raise PreconditionFailedError(
                    f"{kind.RESOURCE} {record_id} is at version {record.version}, not {if_match}"
                )
            before = record.state
            command(record)
            changed = {k: v for k, v in record.state.items() if before.get(k) != v}
            self._check_references(kind, ctx, changed)
            self.save(record)
            return record

        return retrying_conflicts(attempt)

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

    def _check_references(self, kind: type[Record], ctx: Context, fields: dict[str, Any]) -> None:
        """Every reference among `fields` names a live record of the tenant (422 otherwise)."""
        resource: Resource | None = resource_of(kind)
        for field, target in (resource.references if resource else {}).items():
            if field not in fields:
                continue
            value = fields[field]
            target_kind = RESOURCES[target].aggregate
            try:
                self.get_record(target_kind, ctx, UUID(str(value)))
            except (ValueError, RecordNotFoundError):
                raise InvalidFieldError(field, f"no {target} {value}") from None

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
            id=new_id(),
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

        def attempt() -> tuple[WebhookSubscription, list[Any]]:
            subscription = self.get_webhook(ctx, webhook_id)
            command(subscription)
            return subscription, self.save(subscription)

        return retrying_conflicts(attempt)

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
