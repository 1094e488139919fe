"""WebhookSubscription: a tenant's endpoint, the event types it wants, and its signing secret."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.envelope import isoformat, render_record
from domain.errors import ConflictError, InvalidFieldError

SECRET_PREFIX = "whsec_"  # noqa: S105
MAX_URL = 2048
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
EDITABLE = ("url", "event_types", "description")


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


CONTROL_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; whether it may be called is the SSRF guard's job."""
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_URL:
        raise InvalidFieldError("url", f"must be an http(s) URL of at most {MAX_URL} characters")
    if CONTROL_CHARACTERS.search(url):
        # A NUL cannot even be stored in a PostgreSQL text column.
        raise InvalidFieldError("url", "must not contain control characters or spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise InvalidFieldError("url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidFieldError("url", "must start with http:// or https://")
    if not parts.hostname:
        raise InvalidFieldError("url", "must name a host")
    if parts.fragment:
        raise InvalidFieldError("url", "must not have a #fragment")
    return url


class WebhookSubscription(Aggregate):
    """An endpoint of one tenant: `active` or `disabled` (by its owner, by a 410, by failing).

    Every event carries the subscription's public `state`, so the delivery subscriber and the
    public envelope of `webhook.*` events are built from the event alone. Secrets travel in
    their own fields, sealed by the caller (encrypted when a server key is configured).
    """

    class Created(Aggregate.Created):
        tenant_id: UUID
        state: dict[str, Any]
        secret: str
        meta: dict[str, Any]

    class Changed(Aggregate.Event):
        state: dict[str, Any]
        previous: dict[str, Any]
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.state = self.state

    class Updated(Changed):
        pass

    class Disabled(Changed):
        pass

    class Reenabled(Changed):
        pass

    class SecretRotated(Changed):
        secret: str
        previous_secret: str
        previous_secret_expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.secret = self.secret
            aggregate.previous_secret = self.previous_secret
            aggregate.previous_secret_expires_at = self.previous_secret_expires_at

    class Pinged(Changed):
        pass

    class Deleted(Changed):
        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True

    def __init__(
        self, tenant_id: UUID, state: dict[str, Any], secret: str, meta: dict[str, Any]
    ) -> None:
        self.tenant_id = tenant_id
        self.state = state
        self.secret = secret
        self.previous_secret: str | None = None
        self.previous_secret_expires_at: datetime | None = None
        self.deleted = False

    @classmethod
    def create(
        cls,
        ctx: Context,
        *,
        id: UUID,
        url: str,
        event_types: list[str],
        description: str | None,
        secret: str,
    ) -> WebhookSubscription:
        now = cls.Created.create_timestamp()
        state = {
            "url": check_url(url),
            "event_types": event_types,
            "description": description,
            "status": "active",
            "disabled_reason": None,
            "created_at": isoformat(now),
        }
        subscription: WebhookSubscription = cls._create(
            cls.Created,
            id=id,
            timestamp=now,
            tenant_id=ctx.tenant_id,
            state=state,
            secret=secret,
            meta=ctx.as_meta(),
        )
        return subscription

    @property
    def status(self) -> str:
        return str(self.state["status"])

    def update(self, ctx: Context, changes: dict[str, Any]) -> bool:
        """Change url, event types or description; answer whether anything changed."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise InvalidFieldError(sorted(unknown)[0], "is not an editable webhook field")
        if "url" in changes:
            check_url(changes["url"])
        return self._change(ctx, changes, self.Updated)

    def disable(self, ctx: Context, reason: str) -> None:
        if self.status == "disabled":
            raise ConflictError(f"webhook {self.id} is already disabled")
        self._change(ctx, {"status": "disabled", "disabled_reason": reason}, self.Disabled)

    def enable(self, ctx: Context) -> None:
        if self.status == "active":
            raise ConflictError(f"webhook {self.id} is already active")
        self._change(ctx, {"status": "active", "disabled_reason": None}, self.Reenabled)

    def rotate_secret(self, ctx: Context, secret: str, grace: timedelta = DEFAULT_GRACE) -> None:
        """A new secret; the current one keeps signing (beside it) for `grace`.

        One earlier secret signs beside the current one at a time: while the last rotation's
        grace lasts, another rotation with a grace would end it early, and a receiver still
        on that secret would start failing unannounced. So that is a conflict; a rotation
        with no grace (a leaked secret) is always allowed and ends every earlier secret."""
        self._require_live()
        if not timedelta(0) <= grace <= MAX_GRACE:
            raise InvalidFieldError("grace_period_seconds", f"must be 0 to {MAX_GRACE.days} days")
        now = self.SecretRotated.create_timestamp()
        expires = self.previous_secret_expires_at
        if grace > timedelta(0) and expires is not None and expires > now:
            raise ConflictError(
                f"the previous secret still signs until {isoformat(expires)}: rotating again"
                " with a grace period would end it early; rotate after then, or with"
                " grace_period_seconds 0 to end every earlier secret now"
            )
        self.trigger_event(
            self.SecretRotated,
            timestamp=now,
            state=self.state,
            previous={},
            secret=secret,
            previous_secret=self.secret,
            previous_secret_expires_at=now + grace,
            meta=ctx.as_meta(),
        )

    def ping(self, ctx: Context) -> None:
        self._require_live()
        if self.status != "active":
            raise ConflictError(f"webhook {self.id} is disabled; enable it before testing it")
        self.trigger_event(self.Pinged, state=self.state, previous={}, meta=ctx.as_meta())

    def delete(self, ctx: Context) -> None:
        self._require_live()
        self.trigger_event(self.Deleted, state=self.state, previous={}, meta=ctx.as_meta())

    def _change(self, ctx: Context, changes: dict[str, Any], event: type[Changed]) -> bool:
        self._require_live()
        previous = {k: self.state.get(k) for k, v in changes.items() if self.state.get(k) != v}
        if not previous:
            return False
        state = {**self.state, **changes}
        self.trigger_event(event, state=state, previous=previous, meta=ctx.as_meta())
        return True

    def _require_live(self) -> None:
        if self.deleted:
            raise ConflictError(f"webhook {self.id} is deleted")

    def representation(self) -> dict[str, Any]:
        """The subscription as the API shows it (never its secret)."""
        return render_record(self.id, self.state, self.version, self.modified_on)
