"""OrderController: `/v1/orders` and its status transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from api.audit import history_response, state_then_response
from api.auth import Principal, scoped
from api.openapi_docs import header
from api.records import (
    IdempotencyKeyHeader,
    IfMatchHeader,
    change_record,
    changes_of,
    correlation_id,
    create_record,
    list_records,
    record_response,
)
from api.schemas.common import AsOfParam, CursorParam, Limit, VersionParam
from api.schemas.events import EventPage
from api.schemas.orders import Order, OrderCreate, OrderList, OrderUpdate
from api.services import ApiServices
from domain.order import Order as OrderRecord


class OrderController(Controller):
    path = "/orders"
    tags = ["Orders"]

    @post(
        "/",
        operation_id="CreateOrder",
        summary="Create a draft order",
        response_description="The draft order created, with its computed total.",
        response_headers=[
            header("Location", location="/v1/orders/a3c9e1f0-4b2d-4f6e-8a7b-9c0d1e2f3a4b"),
            header("ETag"),
            header("Idempotent-Replayed"),
        ],
        **scoped("records:write", 413, 422),
    )
    async def create(
        self,
        data: OrderCreate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Order]:
        """Create a draft order for one of your contacts. Emits `order.created`."""
        return await create_record(services, request, OrderRecord, data)

    @get(
        "/",
        operation_id="ListOrders",
        summary="List orders",
        response_description="A page of orders, oldest first.",
        sync_to_thread=True,
        **scoped("records:read"),
    )
    def list(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
        updated_since: Annotated[
            datetime | None,
            Parameter(description="Only orders updated at or after this time (ISO 8601)."),
        ] = None,
    ) -> Response[OrderList]:
        """List live orders, oldest first, with cursor pagination."""
        return list_records(
            services,
            "order",
            request.user.tenant_id,
            limit=limit,
            cursor=cursor,
            updated_since=updated_since,
        )

    @get(
        "/{order_id:uuid}",
        operation_id="GetOrder",
        summary="Get an order",
        response_description="The order (as it was then, with `version` or `as_of`).",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        **scoped("records:read", 404),
    )
    def retrieve(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        version: VersionParam = None,
        as_of: AsOfParam = None,
    ) -> Response[Order]:
        """Get an order; its `ETag` is its version.

        With `version=N` or `as_of=<timestamp>`, the order as it was then (404 before it
        was created, or once it was deleted)."""
        ctx = request.user.context(correlation_id(request))
        if version is not None or as_of is not None:
            return state_then_response(
                services, OrderRecord, ctx, order_id, version=version, as_of=as_of
            )
        return record_response(services.app.get_record(OrderRecord, ctx, order_id))

    @get(
        "/{order_id:uuid}/history",
        operation_id="GetOrderHistory",
        summary="Get an order's history",
        response_description="A page of the order's events, oldest first.",
        sync_to_thread=True,
        **scoped("records:read", 404),
    )
    def history(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
    ) -> Response[EventPage]:
        """Every event of one order, oldest first, as envelopes (deleted orders too)."""
        ctx = request.user.context(correlation_id(request))
        return history_response(services, OrderRecord, ctx, order_id, limit=limit, cursor=cursor)

    @patch(
        "/{order_id:uuid}",
        operation_id="UpdateOrder",
        summary="Update a draft order",
        response_description="The order after the change, with its new total.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        **scoped("records:write", 404, 409, 412, 413, 422),
    )
    def update(
        self,
        order_id: UUID,
        data: OrderUpdate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Order]:
        """Edit a draft order (409 once placed). Emits `order.updated`."""
        changes = changes_of(data)
        order = change_record(
            services, request, OrderRecord, order_id, lambda o, ctx: o.update(ctx, changes)
        )
        return record_response(order)

    @delete(
        "/{order_id:uuid}",
        operation_id="DeleteOrder",
        summary="Delete an order",
        response_description="Deleted: the order is gone from lists and reads.",
        sync_to_thread=True,
        status_code=204,
        **scoped("records:write", 404, 409, 412),
    )
    def remove(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        """Delete a draft or cancelled order (409 otherwise). Emits `order.deleted`."""
        change_record(services, request, OrderRecord, order_id, OrderRecord.delete)

    def _transition(
        self,
        verb: str,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> Response[Order]:
        order = change_record(
            services, request, OrderRecord, order_id, lambda o, ctx: getattr(o, verb)(ctx)
        )
        return record_response(order)

    @post(
        "/{order_id:uuid}/place",
        operation_id="PlaceOrder",
        summary="Place an order",
        response_description="The order, now `placed`.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        status_code=200,
        **scoped("records:write", 404, 409, 412),
    )
    def place(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Order]:
        """Move a draft order with at least one line item to `placed`. Emits `order.placed`."""
        return self._transition("place", order_id, request, services)

    @post(
        "/{order_id:uuid}/pay",
        operation_id="PayOrder",
        summary="Mark an order paid",
        response_description="The order, now `paid`.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        status_code=200,
        **scoped("records:write", 404, 409, 412),
    )
    def pay(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Order]:
        """Move a placed order to `paid`. Emits `order.paid`."""
        return self._transition("pay", order_id, request, services)

    @post(
        "/{order_id:uuid}/fulfill",
        operation_id="FulfillOrder",
        summary="Fulfill an order",
        response_description="The order, now `fulfilled`.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        status_code=200,
        **scoped("records:write", 404, 409, 412),
    )
    def fulfill(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Order]:
        """Move a paid order to `fulfilled`. Emits `order.fulfilled`."""
        return self._transition("fulfill", order_id, request, services)

    @post(
        "/{order_id:uuid}/cancel",
        operation_id="CancelOrder",
        summary="Cancel an order",
        response_description="The order, now `cancelled`.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        status_code=200,
        **scoped("records:write", 404, 409, 412),
    )
    def cancel(
        self,
        order_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Order]:
        """Cancel an order that is not yet fulfilled. Emits `order.cancelled`."""
        return self._transition("cancel", order_id, request, services)
