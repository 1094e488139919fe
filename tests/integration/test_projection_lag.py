"""Projection lag: events and seconds behind the log head, as /metrics exposes them."""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import uuid4

from prometheus_client import CollectorRegistry, generate_latest

from domain.contact import Contact
from domain.context import Actor, Context
from projections.lag import measure_lag, register_projection_lag
from syncline.runtime import Runtime


def test_lag_is_the_unprocessed_events_and_the_age_of_the_oldest(runtime: Runtime) -> None:
    name = f"lagging_{secrets.token_hex(4)}"
    head = runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    with runtime.pool.connection() as conn:
        conn.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (%s, %s)", (name, head)
        )
    try:
        (caught_up,) = [
            lag for lag in measure_lag(runtime.pool, runtime.app) if lag.projection == name
        ]
        assert (caught_up.events_behind, caught_up.seconds_behind) == (0, 0.0)

        ctx = Context(uuid4(), Actor("system", "lag-test"), "lag")
        contacts = [
            Contact.create(ctx, {"email": f"l{i}@example.com"}, id=uuid4()) for i in range(3)
        ]
        runtime.app.save(*contacts)
        oldest = contacts[0].created_on
        lags = measure_lag(runtime.pool, runtime.app, now=lambda: oldest + timedelta(seconds=42))
        (behind,) = [lag for lag in lags if lag.projection == name]
        assert behind.events_behind == 3
        assert behind.seconds_behind == 42.0
        assert behind.position == head

        registry = CollectorRegistry()
        register_projection_lag(runtime.pool, runtime.app, registry)
        exposed = generate_latest(registry).decode()
        assert f'syncline_projection_lag_events{{projection="{name}"}} 3.0' in exposed
        assert f'syncline_projection_lag_seconds{{projection="{name}"}}' in exposed
    finally:
        with runtime.pool.connection() as conn:
            conn.execute("DELETE FROM projection_tracking WHERE name = %s", (name,))
