"""Replay: enqueue again every event since a cursor, or a time, that a subscription asks for."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from psycopg import sql
from psycopg_pool import ConnectionPool

from delivery.outbox import NewDelivery, enqueue
from delivery.subscriber import new_delivery, render_event
from delivery.subscriptions_view import SubscriptionsView
from domain.events import public_type, type_matches
from projections.cursor import CursorCodec
from projections.events.log import EventLog
from projections.events.projection import EventLogProjection
from projections.tracking import read_position

PAGE = 1000
PING = "webhook.ping"
EVENT_LOG_WAIT_SECONDS = 5.0


class EventLogBehindError(RuntimeError):
    """The event log had not reached the log head within EVENT_LOG_WAIT_SECONDS: a replay
    now would silently miss the newest events, so none is made (the caller retries)."""


def replay(
    app: Application[Any],
    pool: ConnectionPool,
    cursors: CursorCodec,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    after: int,
    replay_id: UUID,
    since: datetime | None = None,
    wait: float = EVENT_LOG_WAIT_SECONDS,
) -> int:
    """Enqueue the matching events committed after position `after` (and after the
    subscription's creation) up to the event log's current position; answer how many.
    With `since`, only events that occurred at or after that time (the log's
    `(tenant, occurred_at)` index finds the first).

    Pings (`POST /test`) are not replayed. Replayed deliveries keep their event's
    `webhook-id` (receivers deduplicate on it) and join the end of each record's queue. The
    tenant's events are read page by page from the event log, each page enqueued in its own
    transaction.
    """
    target = SubscriptionsView(pool).replay_target(tenant_id, subscription_id)
    if target is None:  # not yet seen by the subscriber: nothing was committed after it
        return 0
    patterns, created_position = target.event_types, target.created_position
    # Only this tenant's events are read: the event log is indexed by (tenant, position), so
    # the work is bounded by the tenant's own history, not by every tenant's. It replays up
    # to what the event log holds now.
    head = app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    # The event log follows the log within milliseconds, except while a worker catches up
    # on a backlog (it goes after the change feed and webhooks: CatchUpOrder); give it a
    # moment to reach the head so a replay right after a write includes it, else refuse.
    deadline = time.monotonic() + wait
    while read_position(pool, EventLogProjection.name) < head:
        if time.monotonic() >= deadline:
            raise EventLogBehindError(
                f"the event log is still catching up with the log (position {head});"
                " nothing was replayed"
            )
        time.sleep(0.01)
    position = max(after, created_position)
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)  # no offset: UTC
        with pool.connection() as conn:
            first = conn.execute(
                "SELECT min(position) FROM event_log WHERE tenant_id = %s AND occurred_at >= %s",
                (tenant_id, since),
            ).fetchone()
        if first is None or first[0] is None:
            return 0
        position = max(position, int(first[0]) - 1)
    origin = f"replay:{replay_id}"
    total = 0
    recorder: Any = app.recorder
    select_events = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state"
        " FROM {}.{} WHERE notification_id = ANY(%s) ORDER BY notification_id"
    ).format(sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name))
    log = EventLog(pool, app)
    while True:
        rows = log.index(tenant_id, after=position, until=head, limit=PAGE)
        if not rows:
            break
        position = rows[-1][0]
        # A ping is a test of one webhook, never one of the events it matches: not replayed.
        wanted = [
            pos
            for pos, event_type, _entity_id, occurred_at in rows
            if (since is None or occurred_at >= since)
            and event_type != PING
            and type_matches(patterns, event_type)
        ]
        stored = []
        if wanted:
            with pool.connection() as conn:
                stored = conn.execute(select_events, (wanted,)).fetchall()
        page: list[NewDelivery] = []
        for nid, originator_id, version, topic, state in stored:
            notification = Notification(
                id=nid,
                originator_id=originator_id,
                originator_version=version,
                topic=topic,
                state=bytes(state),
            )
            event = app.mapper.to_domain_event(notification)
            event_type = public_type(event)
            if event_type is None:
                continue
            body = render_event(cursors, nid, event, event_type)
            page.append(
                new_delivery(
                    subscription_id,
                    nid,
                    event,
                    event_type,
                    body,
                    origin=origin,
                    enqueued_position=head,
                )
            )
        if page:
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                total += enqueue(cur, page)
    return total
