"""ChangeController: `/v1/changes`, the delta feed integrations poll, and its head."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any
from uuid import UUID

from anyio import to_thread
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from api.auth import Principal, scoped
from api.parameters import change_cursor, change_position, require_not_ahead, resource_types
from api.responses import json_response
from api.schemas.changes import ChangeHead, ChangePage
from api.schemas.common import Limit
from api.services import ApiServices
from projections.changes.cursor import encode_change_cursors
from projections.changes.feed import ChangeFeed

MAX_WAIT = 30.0
# A waiting request re-reads the feed this often even without a notification, so a lost
# LISTEN session only delays, never stalls, a long-poll.
FALLBACK_POLL = 5.0

FeedCursorParam = Annotated[
    str | None,
    Parameter(
        max_length=2048,
        description="`next_cursor` (or an item's `cursor`) from an earlier answer; `now` for"
        " the current head. Omit it to start from the beginning (initial sync).",
    ),
]
WaitParam = Annotated[
    float,
    Parameter(
        ge=0,
        le=MAX_WAIT,
        description="Long-poll: hold an empty page up to this many seconds (at most 30)"
        " until a change arrives.",
    ),
]


def page_body(
    services: ApiServices,
    tenant_id: UUID,
    items: list[tuple[int, bytes]],
    next_position: int,
    has_more: bool,
) -> bytes:
    """The page as JSON; each item's cursor goes in front of the rest PostgreSQL wrote.

    Built as bytes: the items stay the UTF-8 PostgreSQL sent (a page of 1000 is about half
    a megabyte, and a str detour cost a third of the time it takes to build).
    """
    positions = [position for position, _ in items]
    cursors = encode_change_cursors(services.cursors, tenant_id, [*positions, next_position])
    # One join into the response: every further copy of half a megabyte costs page faults.
    parts = [b'{"data":[']
    for cursor, (_, item) in zip(cursors, items, strict=False):
        parts += (b'{"cursor":"', cursor, b'",', item, b",")
    if items:
        parts.pop()
    more = b"true" if has_more else b"false"
    parts.append(b'],"next_cursor":"' + cursors[-1] + b'","has_more":' + more + b"}")
    return b"".join(parts)


class ChangeController(Controller):
    path = "/changes"
    tags = ["Changes feed"]

    @get(
        "/",
        operation_id="ListChanges",
        summary="Follow the changes feed",
        response_description="The records changed after the cursor, in log order, and the"
        " cursor to continue from.",
        **scoped("records:read"),
    )
    async def list(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        cursor: FeedCursorParam = None,
        limit: Limit = 100,
        resource_types_param: Annotated[
            str | None,
            Parameter(
                query="resource_types",
                description="Only these resource types, comma-separated: `contact`, `order`.",
            ),
        ] = None,
        wait: WaitParam = 0,
    ) -> Response[ChangePage]:
        """Every record that changed after `cursor`, once each, with its latest state.

        Start without a cursor to receive every record (initial sync), then keep calling
        with `next_cursor`: you will see every change committed since, in log order, and
        never miss one, however many writers commit concurrently. A deleted record appears
        as a tombstone (`deleted: true`, `data: null`). `has_more: true` means call again
        at once; otherwise wait (or pass `wait=N` to long-poll: an empty page is held until
        a change arrives or N seconds pass).

        Cursors are opaque and belong to your tenant; keep the last one you processed.
        """
        tenant_id = request.user.tenant_id
        feed = ChangeFeed(services.pool)
        types = None if resource_types_param is None else resource_types(resource_types_param)
        if cursor is None:
            position = 0
        elif cursor == "now":
            position = await to_thread.run_sync(feed.head)
        else:
            position = change_position(services, tenant_id, cursor, "cursor")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        checked = False
        # A long-poll has the process's listening session hear changes before it reads.
        listening = services.change_listener.following() if wait > 0 else contextlib.nullcontext()
        async with listening:
            while True:
                with services.change_listener.waiter(str(tenant_id)) as woken:
                    page = await to_thread.run_sync(feed.page, tenant_id, position, limit, types)
                    if page.items:
                        body = page_body(
                            services, tenant_id, page.items, page.items[-1][0], page.has_more
                        )
                        return json_response(body)
                    if not checked:
                        await to_thread.run_sync(require_not_ahead, services, position, "cursor")
                        checked = True
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), timeout=min(remaining, FALLBACK_POLL))
        return json_response(page_body(services, tenant_id, [], position, False))

    @get(
        "/head",
        operation_id="GetChangesHead",
        summary="Get the feed's current head",
        response_description="A cursor at the feed's head.",
        sync_to_thread=True,
        **scoped("records:read"),
    )
    def head(self, request: Request[Principal, Any, Any], services: ApiServices) -> ChangeHead:
        """The feed's current head: a cursor from which only changes made from now on are
        returned (the same as `GET /v1/changes?cursor=now`)."""
        position = ChangeFeed(services.pool).head()
        return ChangeHead(cursor=change_cursor(services, request.user.tenant_id, position))
