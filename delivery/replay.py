"""Replay: enqueue again every event since a cursor that a subscription asks for."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import ConnectionPool

from delivery.outbox import NewDelivery, enqueue
from delivery.subscriber import new_delivery, render_event
from domain.application import Syncline
from domain.events import public_type, type_matches
from domain.webhook import WebhookSubscription
from projections.cursor import CursorCodec

PAGE = 1000


def replay(
    app: Syncline,
    pool: ConnectionPool,
    cursors: CursorCodec,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    after: int,
    replay_id: UUID,
) -> int:
    """Enqueue the matching events committed after position `after` (and after the
    subscription's creation) up to the log's current head; answer how many.

    Replayed deliveries keep their event's `webhook-id` (receivers deduplicate on it) and join
    the end of each record's queue. The log is read page by page, each page enqueued in its
    own transaction.
    """
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT event_types, created_position FROM webhook_subscriptions"
            " WHERE id = %s AND tenant_id = %s AND status = 'active'",
            (subscription_id, tenant_id),
        ).fetchone()
    if row is None:  # not yet seen by the subscriber: nothing was committed after it
        return 0
    patterns, created_position = list(row[0]), int(row[1])
    head = app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    position = max(after, created_position)
    origin = f"replay:{replay_id}"
    total = 0
    while position < head:
        notifications = app.recorder.select_notifications(  # type: ignore[attr-defined]
            start=position, limit=PAGE, stop=head, inclusive_of_start=False
        )
        if not notifications:
            break
        page: list[NewDelivery] = []
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            meta = getattr(event, "meta", None) or {}
            event_type = public_type(event)
            if event_type is None or meta.get("tenant_id") != str(tenant_id):
                continue
            if isinstance(event, WebhookSubscription.Pinged):
                wanted = event.originator_id == subscription_id
            else:
                wanted = type_matches(patterns, event_type)
            if wanted:
                body = render_event(cursors, notification.id, event, event_type)
                page.append(
                    new_delivery(
                        subscription_id,
                        notification.id,
                        event,
                        event_type,
                        body,
                        origin=origin,
                        enqueued_position=head,
                    )
                )
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            total += enqueue(cur, page)
        position = notifications[-1].id
    return total
