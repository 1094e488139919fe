"""Order: line items priced in integer minor units, a computed total, and a status machine."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.context import Context
from domain.currency import is_currency
from domain.envelope import MAX_SAFE_INTEGER
from domain.errors import ConflictError, InvalidFieldError
from domain.record import Record
from domain.resources import Resource, register

FIELDS = ("contact_id", "currency", "line_items")
MAX_LINE_ITEMS = 100
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 1_000_000_000_000
MAX_TOTAL = MAX_SAFE_INTEGER

# status -> the statuses it may move to; `cancelled` is reachable from any non-final state.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"placed", "cancelled"}),
    "placed": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"fulfilled", "cancelled"}),
    "fulfilled": frozenset(),
    "cancelled": frozenset(),
}
VERBS = {"placed": "place", "paid": "pay", "fulfilled": "fulfill", "cancelled": "cancel"}


class IllegalTransitionError(ConflictError):
    """The order's status does not allow this transition (409)."""


def validate_order(fields: dict[str, Any]) -> dict[str, Any]:
    """Check an order's editable fields; answer them with the computed total."""
    currency = fields.get("currency")
    if not isinstance(currency, str) or not is_currency(currency):
        raise InvalidFieldError("currency", f"{currency!r} is not an ISO 4217 currency code")
    items = fields.get("line_items") or []
    if len(items) > MAX_LINE_ITEMS:
        raise InvalidFieldError("line_items", f"at most {MAX_LINE_ITEMS} line items")
    line_items = []
    for i, item in enumerate(items):
        quantity, unit_price = item.get("quantity"), item.get("unit_price")
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidFieldError(
                f"line_items[{i}].quantity", f"must be an integer from 1 to {MAX_QUANTITY}"
            )
        if not isinstance(unit_price, int) or not 0 <= unit_price <= MAX_UNIT_PRICE:
            raise InvalidFieldError(
                f"line_items[{i}].unit_price",
                f"must be an integer number of minor units from 0 to {MAX_UNIT_PRICE}",
            )
        if not item.get("sku"):
            raise InvalidFieldError(f"line_items[{i}].sku", "is required")
        line_items.append(
            {
                "sku": item["sku"],
                "description": item.get("description"),
                "quantity": quantity,
                "unit_price": unit_price,
            }
        )
    total = sum(item["quantity"] * item["unit_price"] for item in line_items)
    if total > MAX_TOTAL:
        raise InvalidFieldError("line_items", f"the order total may not exceed {MAX_TOTAL}")
    return {
        "contact_id": str(fields["contact_id"]),
        "currency": currency,
        "line_items": line_items,
        "total": total,
    }


class Order(Record):
    """An order of one tenant: `draft → placed → paid → fulfilled`, or `cancelled`."""

    RESOURCE = "order"

    class Placed(Record.Updated):
        pass

    class Paid(Record.Updated):
        pass

    class Fulfilled(Record.Updated):
        pass

    class Cancelled(Record.Updated):
        pass

    @classmethod
    def create(
        cls,
        ctx: Context,
        fields: dict[str, Any],
        *,
        id: UUID,
        request_hash: str | None = None,
    ) -> Order:
        state = {**validate_order(fields), "status": "draft"}
        order: Order = cls._start(ctx, state, id=id, request_hash=request_hash)
        return order

    @property
    def status(self) -> str:
        return str(self.state["status"])

    def update(self, ctx: Context, changes: dict[str, Any]) -> bool:
        """Edit a draft order; answer whether anything changed."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise InvalidFieldError(sorted(unknown)[0], "is not an editable order field")
        self._require_live()
        if self.status != "draft":
            raise ConflictError(
                f"order {self.id} is {self.status}; only draft orders can be edited"
            )
        editable = {k: self.state[k] for k in FIELDS}
        return self._change(ctx, validate_order({**editable, **changes}), self.Updated)

    def place(self, ctx: Context) -> None:
        if not self.state["line_items"] and self.status == "draft":
            raise IllegalTransitionError(
                f"order {self.id} has no line items; add at least one before placing it"
            )
        self._move(ctx, "placed", self.Placed)

    def pay(self, ctx: Context) -> None:
        self._move(ctx, "paid", self.Paid)

    def fulfill(self, ctx: Context) -> None:
        self._move(ctx, "fulfilled", self.Fulfilled)

    def cancel(self, ctx: Context) -> None:
        self._move(ctx, "cancelled", self.Cancelled)

    def delete(self, ctx: Context) -> None:
        if self.status not in ("draft", "cancelled"):
            raise ConflictError(
                f"order {self.id} is {self.status}; only draft or cancelled orders can be deleted"
            )
        super().delete(ctx)

    def _move(self, ctx: Context, target: str, event: type[Record.Updated]) -> None:
        self._require_live()
        if target not in TRANSITIONS[self.status]:
            raise IllegalTransitionError(
                f"cannot {VERBS[target]} order {self.id}: it is {self.status}"
                + (
                    f"; allowed next: {', '.join(sorted(TRANSITIONS[self.status]))}"
                    if TRANSITIONS[self.status]
                    else " (a final state)"
                )
            )
        self._change(ctx, {"status": target}, event)


ORDER = register(
    Resource(
        Order,
        events={
            "created": "An order was created (as a draft).",
            "updated": "The contact, currency or line items of a draft order changed.",
            "placed": "An order moved from draft to placed.",
            "paid": "A placed order was paid.",
            "fulfilled": "A paid order was fulfilled.",
            "cancelled": "An order was cancelled.",
            "deleted": "A draft or cancelled order was deleted.",
        },
        references={"contact_id": "contact"},  # an order is for one of the tenant's contacts
    )
)
