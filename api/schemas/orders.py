"""Order schemas: `Order`, `OrderCreate`, `OrderUpdate`, `OrderList`, `LineItem`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from api.schemas.common import HasMore, NextCursor

Currency = Annotated[
    str,
    Meta(pattern="^[A-Z]{3}$", description="ISO 4217 currency code.", examples=["EUR"]),
]
OrderStatus = Literal["draft", "placed", "paid", "fulfilled", "cancelled"]


class LineItem(Struct, forbid_unknown_fields=True, frozen=True):
    sku: Annotated[str, Meta(min_length=1, max_length=64)]
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)]
    unit_price: Annotated[
        int, Meta(ge=0, le=1_000_000_000_000, description="Price of one unit in minor units.")
    ]
    description: Annotated[str, Meta(max_length=500)] | None = None


LineItems = Annotated[list[LineItem], Meta(max_length=100, description="Up to 100 line items.")]


class OrderCreate(Struct, forbid_unknown_fields=True, frozen=True):
    contact_id: UUID
    currency: Currency
    line_items: LineItems = []


class OrderUpdate(Struct, forbid_unknown_fields=True, frozen=True):
    """Changes to a draft order; omitted fields stay as they are."""

    contact_id: UUID | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    line_items: LineItems | UnsetType = UNSET


class Order(Struct, frozen=True):
    id: UUID
    contact_id: UUID
    currency: str
    line_items: list[LineItem]
    total: Annotated[int, Meta(description="Sum of quantity times unit_price, in minor units.")]
    status: OrderStatus
    version: int
    created_at: datetime
    updated_at: datetime


class OrderList(Struct, frozen=True):
    data: list[Order]
    next_cursor: NextCursor
    has_more: HasMore
