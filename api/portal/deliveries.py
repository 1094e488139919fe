"""The portal's delivery pages: an endpoint's deliveries (filters, keyset pages), one
delivery's attempts and the endpoint's answers, "retry now", and replaying since a time or
a cursor. Each action calls the functions the API's routes call (delivery/retry_now.py,
delivery/replay.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from api.errors import ProblemError
from api.parameters import change_position
from api.portal import catalog, readers
from api.portal.context import tenant_context
from api.portal.sessions import BrowserSession
from api.portal.web import htmx_target, page, run, see_other, services_of
from delivery.headers import USER_AGENT
from delivery.replay import EventLogBehindError, replay
from delivery.retry_now import RetryRefusedError, retry_now
from domain.errors import InvalidFieldError

# The headers every attempt carries; the signatures and timestamp differ per attempt and the
# signatures are secrets' work, so the page names them without their values.
SIGNED_PER_ATTEMPT = ("webhook-timestamp", "webhook-signature", "X-Signature-256")
FOLLOW_WINDOW = timedelta(seconds=30)


def _when(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFieldError(field, "must be a date and time (YYYY-MM-DDTHH:MM)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filter(query: Any) -> readers.PageFilter:
    state = query.get("state") or None
    if state is not None and state not in readers.STATES:
        raise InvalidFieldError("state", f"must be one of {', '.join(readers.STATES)}")
    event_type = query.get("event_type") or None
    if event_type is not None and event_type not in catalog.names():
        raise InvalidFieldError("event_type", "is not an event type of the catalog")
    before = query.get("before") or None
    if before is not None and (not before.isdigit() or len(before) > 18):
        raise InvalidFieldError("before", "must be a delivery number")
    return readers.PageFilter(
        state=state,
        event_type=event_type,
        since=_when(query.get("since"), "since"),
        until=_when(query.get("until"), "until"),
        before=int(before) if before else None,
    )


def sent_headers(found: dict[str, Any]) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Type": found["event_type"],
        "X-Correlation-ID": found["correlation_id"],
        "webhook-id": found["event_id"],
        **dict.fromkeys(SIGNED_PER_ATTEMPT, "(computed for each attempt)"),
    }


def following(found: dict[str, Any], now: datetime) -> bool:
    """Whether the page refreshes itself: while the delivery is pending and its next
    attempt is due within FOLLOW_WINDOW (not while it waits out a long retry delay, so
    what a reader opened on the page stays open)."""
    due = found.get("next_attempt_at")
    return found["status"] == "pending" and (due is None or due <= now + FOLLOW_WINDOW)


class DeliveryPages(Controller):
    path = "/endpoints/{webhook_id:uuid}"

    @get("/deliveries")
    async def deliveries(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        subscription = await run(services.app.get_webhook, ctx, webhook_id)
        error = None
        try:
            selected = _filter(request.query_params)
        except InvalidFieldError as exc:
            selected, error = readers.PageFilter(), str(exc)
        found = await run(readers.deliveries, services, ctx.tenant_id, webhook_id, selected)
        base = f"/portal/endpoints/{webhook_id}/deliveries"
        next_url = (
            f"{base}?{urlencode(selected.query(found.next_before))}"
            if found.next_before is not None
            else None
        )
        return page(
            "portal/deliveries.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": {**subscription.representation(), "id": str(webhook_id)},
                "page": found,
                "selected": selected,
                "filter_values": selected.query(),
                "states": readers.STATES,
                "event_names": catalog.names(),
                "next_url": next_url,
                "first_url": base if selected.before is not None else None,
                "error": error,
                "sent": request.query_params.get("sent"),
            },
            status_code=422 if error else 200,
            fragment="deliveries" if htmx_target(request) == "deliveries" else None,
        )

    @get("/deliveries/{delivery_id:uuid}")
    async def delivery(
        self,
        webhook_id: UUID,
        delivery_id: UUID,
        request: Request[Any, Any, Any],
        session: BrowserSession,
    ) -> Template:
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        subscription = await run(services.app.get_webhook, ctx, webhook_id)
        found = await run(readers.delivery, services, ctx.tenant_id, webhook_id, delivery_id)
        if found is None:
            raise NotFoundException(detail="not found")
        return page(
            "portal/delivery.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": {**subscription.representation(), "id": str(webhook_id)},
                "delivery": found,
                "headers": sent_headers(found),
                "retried": request.query_params.get("retried"),
                "follow": following(found, services.clock.now()),
            },
            fragment="attempts" if htmx_target(request) == "attempts" else None,
        )

    @post("/deliveries/{delivery_id:uuid}/retry")
    async def retry(
        self,
        webhook_id: UUID,
        delivery_id: UUID,
        request: Request[Any, Any, Any],
        session: BrowserSession,
    ) -> Response[Any]:
        services = services_of(request)
        ctx = tenant_context(services, session, request)

        def retry() -> dict[str, Any] | None:
            subscription = services.app.get_webhook(ctx, webhook_id)
            if subscription.status != "active":
                raise ProblemError(409, "this endpoint is disabled; enable it first")
            return retry_now(
                services.pool,
                tenant_id=ctx.tenant_id,
                subscription_id=webhook_id,
                public_id=delivery_id,
                now=services.clock.now(),
            )

        try:
            found = await run(retry)
        except RetryRefusedError as exc:
            raise ProblemError(409, str(exc)) from exc
        if found is None:
            raise NotFoundException(detail="not found")
        return see_other(f"/portal/endpoints/{webhook_id}/deliveries/{delivery_id}?retried=1")

    @post("/replay", status_code=200)
    async def replay(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        services = services_of(request)
        form = await request.form()
        after = str(form.get("after") or "").strip()
        since = _when(str(form.get("since") or "").strip(), "since")
        ctx = tenant_context(services, session, request)

        def start() -> int:
            subscription = services.app.get_webhook(ctx, webhook_id)
            if subscription.status != "active":
                raise ProblemError(409, "this endpoint is disabled; enable it first")
            if bool(after) == (since is not None):
                raise InvalidFieldError("since", "give a time or a cursor (one of them)")
            position = change_position(services, ctx.tenant_id, after, "after") if after else 0
            return replay(
                services.app,
                services.pool,
                services.cursors,
                tenant_id=ctx.tenant_id,
                subscription_id=webhook_id,
                after=position,
                replay_id=uuid4(),
                since=since,
            )

        try:
            enqueued = await run(start)
        except EventLogBehindError as exc:
            raise ProblemError(503, str(exc)) from exc
        except ProblemError as exc:
            if exc.status_code != 400:
                raise
            raise InvalidFieldError("after", str(exc.detail)) from None
        return see_other(f"/portal/endpoints/{webhook_id}/deliveries?sent=replay-{enqueued}")
