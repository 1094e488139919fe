"""What the audit routes share: event pages with cursors, record histories, states then."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Response

from api.parameters import change_cursor, change_position, invalid, timestamp
from api.responses import json_response
from api.services import ApiServices
from domain.context import Context
from domain.record import Record
from projections.changes.cursor import encode_change_cursors
from projections.events.log import EventLog
from projections.events.projection import CURSOR_PLACEHOLDER


def with_cursor(cursor: str, stored: str) -> str:
    """A stored envelope with its cursor filled in (the first `"cursor":""` is the envelope's
    own: it precedes `data`, the only member holding client-supplied keys)."""
    return stored.replace(CURSOR_PLACEHOLDER, f'"cursor":"{cursor}"', 1)


def event_page_body(
    services: ApiServices,
    tenant_id: UUID,
    items: list[tuple[int, str]],
    *,
    has_more: bool,
    next_cursor: str | None,
) -> bytes:
    cursors = encode_change_cursors(services.cursors, tenant_id, [p for p, _ in items])
    envelopes = ",".join(
        with_cursor(c.decode(), e) for c, (_, e) in zip(cursors, items, strict=True)
    )
    return (
        f'{{"data":[{envelopes}],"next_cursor":'.encode()
        + msgspec.json.encode(next_cursor)
        + (b',"has_more":true}' if has_more else b',"has_more":false}')
    )


def history_response(
    services: ApiServices,
    kind: type[Record],
    ctx: Context,
    record_id: UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Response[Any]:
    """Every event of one record, oldest first (a deleted record's too), as a list page."""
    services.app.get_record(kind, ctx, record_id, version=1)  # 404 unless the tenant's
    after = 0 if cursor is None else change_position(services, ctx.tenant_id, cursor, "cursor")
    page = EventLog(services.pool, services.app).page(
        ctx.tenant_id, after=after, limit=limit, entity_id=record_id, entity_type=kind.RESOURCE
    )
    next_cursor = (
        change_cursor(services, ctx.tenant_id, page.items[-1][0]) if page.has_more else None
    )
    body = event_page_body(
        services, ctx.tenant_id, page.items, has_more=page.has_more, next_cursor=next_cursor
    )
    return json_response(body)


def state_then_response(
    services: ApiServices,
    kind: type[Record],
    ctx: Context,
    record_id: UUID,
    *,
    version: int | None,
    as_of: str | None,
) -> Response[Any]:
    """The record as it stood at `version` or at the moment `as_of`."""
    if version is not None and as_of is not None:
        raise invalid("as_of", "cannot be combined with version; ask for one or the other")
    moment: datetime | None = None if as_of is None else timestamp(as_of, "as_of")
    representation = services.app.record_at(kind, ctx, record_id, version=version, as_of=moment)
    return Response(content=representation, headers={"ETag": f'"{representation["version"]}"'})
