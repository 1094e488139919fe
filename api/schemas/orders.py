"""Order schemas: `Order`, `OrderCreate`, `OrderUpdate`, `OrderList`, `LineItem`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from api.schemas.common import DATA_SCHEMAS, HasMore, Input, NextCursor, Output
from api.schemas.contacts import CONTACT_ID
from api.schemas.examples import CREATED, PAID, examples, page
from domain.order import MAX_LINE_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE

Currency = Annotated[
    str,
    Meta(pattern="^[A-Z]{3}$", description="ISO 4217 currency code.", examples=["EUR"]),
]
OrderStatus = Literal["draft", "placed", "paid", "fulfilled", "cancelled"]


class LineItem(Input):
    sku: Annotated[str, Meta(min_length=1, max_length=64)]
    quantity: Annotated[int, Meta(ge=1, le=MAX_QUANTITY)]
    unit_price: Annotated[
        int, Meta(ge=0, le=MAX_UNIT_PRICE, description="Price of one unit in minor units.")
    ]
    description: Annotated[str, Meta(max_length=500)] | None = None


LineItems = Annotated[
    list[LineItem],
    Meta(max_length=MAX_LINE_ITEMS, description=f"Up to {MAX_LINE_ITEMS} line items."),
]


class OrderCreate(Input):
    contact_id: UUID
    currency: Currency
    line_items: LineItems = []


class OrderUpdate(Input):
    """Changes to a draft order; omitted fields stay as they are."""

    contact_id: UUID | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    line_items: LineItems | UnsetType = UNSET


class Order(Output):
    id: UUID
    contact_id: UUID
    currency: str
    line_items: list[LineItem]
    total: Annotated[int, Meta(description="Sum of quantity times unit_price, in minor units.")]
    status: OrderStatus
    version: int
    created_at: datetime
    updated_at: datetime


DATA_SCHEMAS.add("order", msgspec.json.schema(Order))


class OrderList(Output):
    data: list[Order]
    next_cursor: NextCursor
    has_more: HasMore


# The OpenAPI document's examples of these bodies (see api.schemas.examples).
ORDER_ID = "a3c9e1f0-4b2d-4f6e-8a7b-9c0d1e2f3a4b"
LINE_ITEMS = [
    {"sku": "BOOK-NOTES-1843", "quantity": 2, "unit_price": 2450, "description": "Notes, 1843"},
    {"sku": "PUNCH-CARDS-100", "quantity": 1, "unit_price": 1299, "description": None},
]
ORDER_CREATE = {"contact_id": CONTACT_ID, "currency": "EUR", "line_items": LINE_ITEMS}
ORDER = {
    "id": ORDER_ID,
    **ORDER_CREATE,
    "total": 6199,
    "status": "paid",
    "version": 4,
    "created_at": CREATED,
    "updated_at": PAID,
}
examples(
    OrderCreate=ORDER_CREATE,
    OrderUpdate={"line_items": LINE_ITEMS[:1]},
    Order=ORDER,
    OrderList=page(ORDER),
)
