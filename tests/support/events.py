"""Events to test with: an in-memory application, its stored events, records' whole lives."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from hypothesis import strategies as st

from domain.application import Syncline
from domain.contact import Contact
from domain.context import Actor, Context
from domain.envelope import MAX_SAFE_INTEGER
from domain.order import Order

ACTOR = Actor("system", "test")
# JSON a client may send in custom_fields: msgspec-decoded request bodies hold these types,
# integers within ±(2^53 - 1) (the domain refuses larger ones).
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def memory_app() -> Syncline:
    return Syncline(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def stored_events(app: Syncline) -> list[StoredEvent]:
    notifications = app.recorder.select_notifications(start=1, limit=10_000)  # type: ignore[attr-defined]
    return [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
    ]


def stored_contact(custom_fields: dict[str, Any]) -> tuple[Syncline, StoredEvent]:
    """A new in-memory app whose log holds one contact.created with these custom fields."""
    app = memory_app()
    ctx = Context(uuid4(), ACTOR, "corr")
    app.save(
        Contact.create(ctx, {"email": "a@example.com", "custom_fields": custom_fields}, id=uuid4())
    )
    (stored,) = stored_events(app)
    return app, stored


def record_lives(app: Syncline, ctx: Context) -> None:
    """A contact's and an order's whole lives: created, changed, moved, deleted."""
    contact, _ = app.create_record(Contact, ctx, {"email": "a@example.com", "tags": ["x"]})
    app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "Ada"}))
    order, _ = app.create_record(
        Order,
        ctx,
        {
            "contact_id": str(contact.id),
            "currency": "EUR",
            "line_items": [{"sku": "A", "quantity": 2, "unit_price": 625}],
        },
    )
    app.update_record(Order, ctx, order.id, lambda o: o.place(ctx))
    app.update_record(Order, ctx, order.id, lambda o: o.cancel(ctx))
    app.update_record(Order, ctx, order.id, lambda o: o.delete(ctx))
    app.update_record(Contact, ctx, contact.id, lambda c: c.delete(ctx))
