"""DeliveryProjection: follows the log and enqueues one delivery per (matching subscription, event).

It is a projection like the read models: the ProjectionRunner calls `process` inside the
transaction that also moves its tracking position, so each event is enqueued exactly once.
Which subscriptions match is decided from subscription state this same projection keeps,
in log order: a subscription gets the events committed after its creation and before its
deletion (or while it was disabled: none), and rebuilding the projection from the log yields
the same deliveries (already enqueued ones are recognised and not sent again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from delivery.outbox import LOG, NewDelivery, cancel_pending, enqueue
from domain.envelope import render_record
from domain.event_classes import instance_of
from domain.events import public_type, type_matches
from domain.webhook import WebhookSubscription
from projections.changes.cursor import encode_change_cursor
from projections.cursor import CursorCodec
from projections.json import json_text
from projections.protocol import Projection
from projections.rendering import envelope_json, public_event_id

UPSERT_SUBSCRIPTION = """
INSERT INTO webhook_subscriptions (id, tenant_id, url, event_types, status, secret, version,
    created_at, created_position, enabled_at, data)
VALUES (%(id)s, %(tenant_id)s, %(url)s, %(event_types)s, %(status)s, %(secret)s, %(version)s,
    %(at)s, %(position)s, %(at)s, %(data)s)
ON CONFLICT (id) DO NOTHING
"""
UPDATE_SUBSCRIPTION = """
UPDATE webhook_subscriptions SET url = %(url)s, event_types = %(event_types)s,
    status = %(status)s, version = %(version)s, data = %(data)s,
    enabled_at = CASE WHEN %(reenabled)s THEN %(at)s ELSE enabled_at END
WHERE id = %(id)s
"""
SET_SECRETS = """
UPDATE webhook_subscriptions SET secret = %(secret)s, previous_secret = %(previous_secret)s,
    previous_secret_expires_at = %(expires_at)s, version = %(version)s, data = %(data)s
WHERE id = %(id)s
"""
ACTIVE_SUBSCRIPTIONS = """
SELECT tenant_id, id, event_types FROM webhook_subscriptions
WHERE tenant_id = ANY(%s) AND status = 'active' ORDER BY tenant_id, id
"""


def render_event(cursors: CursorCodec, position: int, event: Any, event_type: str) -> bytes:
    """The envelope's exact bytes, stored once so every retry sends the same body."""
    tenant_id = UUID(event.meta["tenant_id"])
    return envelope_json(event, event_type, encode_change_cursor(cursors, tenant_id, position))


def new_delivery(
    subscription_id: UUID,
    position: int,
    event: Any,
    event_type: str,
    body: bytes,
    *,
    origin: str = LOG,
    enqueued_position: int | None = None,
) -> NewDelivery:
    return NewDelivery(
        subscription_id=subscription_id,
        tenant_id=UUID(event.meta["tenant_id"]),
        entity_id=event.originator_id,
        position=position,
        enqueued_position=position if enqueued_position is None else enqueued_position,
        origin=origin,
        event_id=public_event_id(event),
        event_type=event_type,
        correlation_id=event.meta["correlation_id"],
        body=body,
        created_at=event.timestamp,
    )


_SUBSCRIPTION_CHANGE = instance_of(WebhookSubscription.Created, WebhookSubscription.Changed)
_PING = instance_of(WebhookSubscription.Pinged)


class DeliveryProjection(Projection):
    """The delivery subscriber: the log, in order, to the outbox (`webhook_deliveries`)."""

    name = "deliveries"

    def __init__(self, cursors: CursorCodec | None) -> None:
        self._cursors = cursors

    @property
    def cursors(self) -> CursorCodec:
        if self._cursors is None:
            raise RuntimeError("the delivery subscriber runs only with the cursor codec")
        return self._cursors

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        # tenant -> its active subscriptions: every tenant of the batch in one query
        active = self._active_of(cur, {event.meta.get("tenant_id") for _, event in events})
        pending: list[NewDelivery] = []
        # While no tenant of the batch has an active webhook, nothing can be delivered until
        # a subscription changes (a ping is such a change): most events, in a deployment
        # where most tenants have none, or in an import.
        quiet = not any(active.values())
        for position, event in events:
            if _SUBSCRIPTION_CHANGE(event):
                # Subscription changes take effect at their place in the log: enqueue what
                # came before them first, then forget the tenant's cached subscriptions.
                enqueue(cur, pending)
                pending = []
                self._apply(cur, position, event)
                active.pop(event.meta["tenant_id"], None)
                quiet = False
            elif quiet:
                continue
            event_type = public_type(event)
            if event_type is None:
                continue
            if _PING(event):
                targets = [event.originator_id]
            else:
                targets = [
                    subscription_id
                    for subscription_id, patterns in self._active(cur, active, event)
                    if type_matches(patterns, event_type)
                ]
            if not targets:
                continue
            body = render_event(self.cursors, position, event, event_type)
            pending += [new_delivery(t, position, event, event_type, body) for t in targets]
        enqueue(cur, pending)

    def _active(
        self,
        cur: psycopg.Cursor[Any],
        active: dict[str, list[tuple[UUID, list[str]]]],
        event: Any,
    ) -> list[tuple[UUID, list[str]]]:
        tenant = event.meta["tenant_id"]
        if tenant not in active:  # its subscriptions changed earlier in this batch
            active.update(self._active_of(cur, {tenant}))
        return active[tenant]

    def _active_of(
        self, cur: psycopg.Cursor[Any], tenants: set[str]
    ) -> dict[str, list[tuple[UUID, list[str]]]]:
        """The active subscriptions of each of `tenants` (as events spell their ids)."""
        active: dict[str, list[tuple[UUID, list[str]]]] = {tenant: [] for tenant in tenants}
        spelled: dict[UUID, list[str]] = {}
        for tenant in tenants:
            with contextlib.suppress(AttributeError, TypeError, ValueError):  # not an id
                spelled.setdefault(UUID(tenant), []).append(tenant)
        if not spelled:
            return active
        for tenant_id, subscription_id, patterns in cur.execute(
            ACTIVE_SUBSCRIPTIONS, (list(spelled),)
        ):
            for tenant in spelled[tenant_id]:
                active[tenant].append((subscription_id, list(patterns)))
        return active

    def _apply(self, cur: psycopg.Cursor[Any], position: int, event: Any) -> None:
        state = event.state
        params = {
            "id": event.originator_id,
            "url": state["url"],
            "event_types": state["event_types"],
            "status": state["status"],
            "version": event.originator_version,
            "at": event.timestamp,
            "data": json_text(
                render_record(event.originator_id, state, event.originator_version, event.timestamp)
            ),
        }
        if isinstance(event, WebhookSubscription.Created):
            cur.execute(
                UPSERT_SUBSCRIPTION,
                {
                    **params,
                    "tenant_id": event.tenant_id,
                    "secret": event.secret,
                    "position": position,
                },
            )
        elif isinstance(event, WebhookSubscription.SecretRotated):
            cur.execute(
                SET_SECRETS,
                {
                    **params,
                    "secret": event.secret,
                    "previous_secret": event.previous_secret,
                    "expires_at": event.previous_secret_expires_at,
                },
            )
        elif isinstance(event, WebhookSubscription.Deleted):
            cur.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (event.originator_id,))
            cancel_pending(
                cur, event.originator_id, position, event.timestamp, "the webhook was deleted"
            )
        else:
            reenabled = isinstance(event, WebhookSubscription.Reenabled)
            cur.execute(UPDATE_SUBSCRIPTION, {**params, "reenabled": reenabled})
            if isinstance(event, WebhookSubscription.Disabled):
                cancel_pending(
                    cur, event.originator_id, position, event.timestamp, "the webhook was disabled"
                )

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        # Only the subscription state is rebuilt; the outbox and its history stay, and
        # re-enqueueing recognises every delivery already made.
        cur.execute("TRUNCATE webhook_subscriptions")
