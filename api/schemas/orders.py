"""Order schemas: `Order`, `OrderCreate`, `OrderUpdate`, `OrderList`, `LineItem`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from api.schemas.common import DATA_SCHEMAS, HasMore, Input, NextCursor, Output
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
