"""Order aggregate: totals, validation, and the status machine (no I/O)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.context import Actor, Context
from domain.errors import ConflictError, InvalidFieldError
from domain.events import public_type
from domain.order import TRANSITIONS, IllegalTransitionError, Order

CTX = Context(uuid4(), Actor("api_key", "sk_test"), "corr-1")


def new_order(items: list[dict] | None = None, currency: str = "EUR") -> Order:
    items = [{"sku": "A", "quantity": 2, "unit_price": 150}] if items is None else items
    return Order.create(
        CTX, {"contact_id": uuid4(), "currency": currency, "line_items": items}, id=uuid4()
    )


def test_total_is_sum_of_quantity_times_unit_price() -> None:
    order = new_order(
        [
            {"sku": "A", "quantity": 2, "unit_price": 150},
            {"sku": "B", "quantity": 3, "unit_price": 1},
        ]
    )
    assert order.state["total"] == 303
    assert order.status == "draft"


@given(
    st.lists(
        st.tuples(st.integers(1, 1_000_000), st.integers(0, 1_000_000)), min_size=0, max_size=20
    )
)
def test_total_is_exact_in_minor_units(items: list[tuple[int, int]]) -> None:
    order = new_order([{"sku": "S", "quantity": q, "unit_price": p} for q, p in items])
    assert order.state["total"] == sum(q * p for q, p in items)


@pytest.mark.parametrize(
    ("field", "items", "currency"),
    [
        ("currency", None, "EURO"),
        ("currency", None, "XXX"),
        ("currency", None, "eur"),
        ("line_items[0].quantity", [{"sku": "A", "quantity": 0, "unit_price": 1}], "EUR"),
        ("line_items[0].quantity", [{"sku": "A", "quantity": -1, "unit_price": 1}], "EUR"),
        ("line_items[0].unit_price", [{"sku": "A", "quantity": 1, "unit_price": -5}], "EUR"),
        ("line_items[0].sku", [{"sku": "", "quantity": 1, "unit_price": 5}], "EUR"),
    ],
)
def test_invalid_orders_are_refused_naming_the_field(
    field: str, items: list[dict] | None, currency: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        new_order(items, currency)
    assert refused.value.field == field


def test_total_beyond_safe_integer_is_refused() -> None:
    items = [{"sku": "A", "quantity": 1_000_000, "unit_price": 1_000_000_000_000}] * 10
    with pytest.raises(InvalidFieldError):
        new_order(items)


def test_transition_events_record_previous_status() -> None:
    order = new_order()
    order.place(CTX)
    order.pay(CTX)
    events = order.collect_events()
    assert [public_type(e) for e in events] == ["order.created", "order.placed", "order.paid"]
    assert events[2].previous == {"status": "placed"}
    assert events[2].state["status"] == "paid"
    assert events[2].meta["actor"] == {"type": "api_key", "id": "sk_test"}
    assert events[2].meta["correlation_id"] == "corr-1"


def test_empty_order_cannot_be_placed() -> None:
    order = new_order([])
    with pytest.raises(IllegalTransitionError, match="no line items"):
        order.place(CTX)


def test_only_draft_orders_are_editable() -> None:
    order = new_order()
    order.place(CTX)
    with pytest.raises(ConflictError, match="only draft"):
        order.update(CTX, {"currency": "USD"})


def test_paid_orders_cannot_be_deleted() -> None:
    order = new_order()
    order.place(CTX)
    order.pay(CTX)
    with pytest.raises(ConflictError):
        order.delete(CTX)


class OrderStatusMachine(RuleBasedStateMachine):
    """Any sequence of commands: legal ones move the status, illegal ones change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.model = "draft"

    @rule(verb=st.sampled_from(["place", "pay", "fulfill", "cancel"]))
    def transition(self, verb: str) -> None:
        target = {"place": "placed", "pay": "paid", "fulfill": "fulfilled", "cancel": "cancelled"}[
            verb
        ]
        version = self.order.version
        if target in TRANSITIONS[self.model]:
            getattr(self.order, verb)(CTX)
            self.model = target
            assert self.order.version == version + 1
        else:
            with pytest.raises(IllegalTransitionError):
                getattr(self.order, verb)(CTX)
            assert self.order.version == version

    @precondition(lambda self: self.model != "draft")
    @rule()
    def edits_refused_after_draft(self) -> None:
        with pytest.raises(ConflictError):
            self.order.update(CTX, {"currency": "USD"})

    @invariant()
    def status_matches_model(self) -> None:
        assert self.order.status == self.model

    @invariant()
    def final_states_are_final(self) -> None:
        if self.model in ("fulfilled", "cancelled"):
            assert TRANSITIONS[self.model] == frozenset()


TestOrderStatusMachine = OrderStatusMachine.TestCase
