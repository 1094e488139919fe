"""Webhook replay reads the event log: while the event log lags the log, it refuses rather
than replaying a range that silently stops short."""

from __future__ import annotations

from uuid import uuid4

import pytest

from delivery.replay import EventLogBehindError, replay
from domain.contact import Contact
from domain.context import Actor, Context
from syncline.runtime import Runtime


def replayed(runtime: Runtime, subscription_id: object) -> int:
    """Deliveries a replay queued (the subscriber's own are origin 'log')."""
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM webhook_deliveries"
            " WHERE subscription_id = %s AND origin LIKE 'replay:%%'",
            (subscription_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_replay_refuses_while_the_event_log_lags_and_replays_once_it_caught_up(
    runtime: Runtime, caught_up
) -> None:
    ctx = Context(uuid4(), Actor("system", "replay"), "replay")
    app = runtime.app
    subscription, _ = app.create_webhook(
        ctx,
        url="https://hooks.example.com/in",
        event_types=["contact.created"],
        description=None,
        seal=lambda secret: secret,
    )
    app.create_record(Contact, ctx, {"email": "before@example.com"})
    caught_up()
    arguments = {
        "tenant_id": ctx.tenant_id,
        "subscription_id": subscription.id,
        "after": 0,
    }

    runtime.stop_projection("events")
    try:
        app.create_record(Contact, ctx, {"email": "during@example.com"})
        with pytest.raises(EventLogBehindError):
            replay(app, runtime.pool, runtime.cursors, replay_id=uuid4(), wait=0.3, **arguments)
        assert replayed(runtime, subscription.id) == 0  # nothing was queued
    finally:
        runtime.start_projection(runtime.projection("events"), poll_interval=0.5)
    caught_up()

    assert replay(app, runtime.pool, runtime.cursors, replay_id=uuid4(), **arguments) == 2
    assert replayed(runtime, subscription.id) == 2
