"""`syncline replay`: a projection rebuilt from the log equals the live one, row for row."""

from __future__ import annotations

import io
from uuid import uuid4

import pytest

from domain.contact import Contact
from domain.context import Actor, Context
from domain.order import Order
from syncline.cli import replay
from syncline.runtime import Runtime

TABLES = {
    "records": {"records": "id"},
    "events": {"event_log": "tenant_id, position"},
}


def write_some_history(runtime: Runtime, caught_up) -> None:
    """Creates, updates, transitions and deletes in two tenants, over several batches."""
    for _ in range(2):
        write_a_tenants_history(
            runtime, Context(uuid4(), Actor("system", "replay"), "replay"), caught_up
        )
    caught_up()


def write_a_tenants_history(runtime: Runtime, ctx: Context, caught_up) -> None:
    app = runtime.app
    contacts = [
        app.create_record(Contact, ctx, {"email": f"c{i}@example.com"})[0] for i in range(6)
    ]
    caught_up()
    for contact in contacts[:3]:
        app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "N"}))
    app.update_record(Contact, ctx, contacts[4].id, lambda c: c.delete(ctx))
    order, _ = app.create_record(
        Order,
        ctx,
        {
            "contact_id": contacts[0].id,
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 1, "unit_price": 5}],
        },
    )
    caught_up()
    for step in ("place", "pay", "fulfill"):
        app.update_record(Order, ctx, order.id, lambda o, s=step: getattr(o, s)(ctx))
    draft, _ = app.create_record(Order, ctx, {"contact_id": contacts[1].id, "currency": "USD"})
    app.update_record(Order, ctx, draft.id, lambda o: o.delete(ctx))


def snapshot(runtime: Runtime, name: str) -> dict[str, list[str]]:
    with runtime.pool.connection() as conn:
        return {
            table: [
                row[0]
                for row in conn.execute(
                    f"SELECT row_to_json(t)::text FROM {table} t ORDER BY {key}"  # type: ignore[arg-type]
                ).fetchall()
            ]
            for table, key in TABLES[name].items()
        }


@pytest.mark.parametrize("name", list(TABLES))
def test_a_replay_equals_the_live_projection(runtime: Runtime, caught_up, name: str) -> None:
    write_some_history(runtime, caught_up)
    live = snapshot(runtime, name)
    assert all(live.values())

    busy = io.StringIO()
    assert replay(runtime, name, stream=busy) == 1
    assert "is being run by syncline" in busy.getvalue()

    runtime.stop_projection(name)
    try:
        with runtime.pool.connection() as conn:  # lose some rows: the replay must restore them
            for table in TABLES[name]:
                conn.execute(f"DELETE FROM {table} WHERE random() < 0.5")  # type: ignore[arg-type]
        output = io.StringIO()
        assert replay(runtime, name, batch_size=50, stream=output) == 0
        assert "100%" in output.getvalue()
        assert "events/s" in output.getvalue()
        assert f"into projection {name}" in output.getvalue()
        assert snapshot(runtime, name) == live
    finally:
        runtime.start_projection(runtime.projection(name), poll_interval=0.5)
    caught_up()
