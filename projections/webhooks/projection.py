"""WebhooksProjection: each tenant's webhook subscriptions as the API lists them (inline).

The delivery subscriber (delivery/subscriber.py) keeps subscription state of its own,
`webhook_subscriptions`, written as it fans events out: a subscription gets the events
committed after its creation and before its deletion or disabling, so that state must be
the one at each event's log position. This table is the API's: written with the
subscription's events by the group commit (syncline.inline), so `GET /v1/webhooks` after a
`POST /v1/webhooks` or a change lists it as it now is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.envelope import render_record
from domain.event_classes import instance_of
from domain.webhook import WebhookSubscription
from projections.json import json_text
from projections.protocol import SelectiveProjection

_INSERT = """
INSERT INTO webhooks (id, tenant_id, status, version, created_at, data)
VALUES (%(id)s, %(tenant_id)s, %(status)s, %(version)s, %(at)s, %(data)s)
ON CONFLICT (id) DO NOTHING
"""
_UPDATE = """
UPDATE webhooks SET status = %(status)s, version = %(version)s, data = %(data)s
WHERE id = %(id)s AND version < %(version)s
"""
_SUBSCRIPTION_EVENT = instance_of(WebhookSubscription.Created, WebhookSubscription.Changed)


class WebhooksProjection(SelectiveProjection):
    name = "webhooks"
    inline = True  # written with its events by the group commit (syncline.inline)
    # Behind (a rebuild, an older database), the change feed and deliveries go first.
    catches_up_later = True

    def reads(self, event: Any) -> bool:
        """Whether `event` is a webhook subscription's: every other event is passed over."""
        return _SUBSCRIPTION_EVENT(event)

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for _, event in events:
            if not _SUBSCRIPTION_EVENT(event):
                continue
            if isinstance(event, WebhookSubscription.Deleted):
                cur.execute("DELETE FROM webhooks WHERE id = %s", (event.originator_id,))
                continue
            state = event.state
            params = {
                "id": event.originator_id,
                "status": state["status"],
                "version": event.originator_version,
                "at": event.timestamp,
                "data": json_text(
                    render_record(
                        event.originator_id, state, event.originator_version, event.timestamp
                    )
                ),
            }
            if isinstance(event, WebhookSubscription.Created):
                cur.execute(_INSERT, {**params, "tenant_id": event.tenant_id})
            else:
                cur.execute(_UPDATE, params)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE webhooks")
