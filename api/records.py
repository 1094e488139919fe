"""What the contact and order controllers share: listing pages, preconditions, responses."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from anyio import to_thread
from litestar import Request, Response
from litestar.params import Parameter

from api.errors import ProblemError
from api.parameters import list_position
from api.responses import json_response
from api.services import ApiServices
from domain.context import Context
from domain.record import Record
from projections.records.view import RecordsView

R = TypeVar("R", bound=Record)
ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
MAX_IDEMPOTENCY_KEY = 255


def request_fingerprint(body: bytes) -> str:
    """What an Idempotency-Key's first request is remembered by: a digest of its body."""
    return hashlib.sha256(body).hexdigest()


def correlation_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


def record_response(record: Record, status: int = 200, **headers: str) -> Response[Any]:
    return Response(
        content=record.representation(),
        status_code=status,
        headers={"ETag": f'"{record.version}"', **headers},
    )


def if_match(request: Request[Any, Any, Any]) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`), or None."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    match = ETAG.match(header)
    if not match:
        raise ProblemError(
            400,
            'If-Match must be an ETag this API issued, such as "3"',
            slug="invalid-parameter",
            parameter="If-Match",
        )
    return int(match.group(1))


def idempotency(
    request: Request[Any, Any, Any], body: msgspec.Struct
) -> tuple[str | None, str | None]:
    """The request's Idempotency-Key and its body's fingerprint; (None, None) without a key
    (a create without one is never compared with another, so nothing is remembered)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None, None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ProblemError(
            400,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            slug="invalid-parameter",
            parameter="Idempotency-Key",
        )
    return key, request_fingerprint(msgspec.json.encode(body))


def list_records(
    services: ApiServices,
    resource: str,
    tenant_id: UUID,
    *,
    limit: int,
    cursor: str | None,
    updated_since: datetime | None,
) -> Response[Any]:
    """A page of a resource's live records, oldest first, as `{"data", "next_cursor",
    "has_more"}` (projections.records.view; keyed on `(created_at, id)`)."""
    kind = f"{resource}s"  # the cursor's kind: a cursor of one listing is refused by another
    after = None
    if cursor is not None:
        created_at, last_id = list_position(services, kind, tenant_id, cursor, 2)
        after = (created_at, last_id)
    page = RecordsView(services.pool).page(
        resource, tenant_id, limit=limit, after=after, updated_since=updated_since
    )
    return page_response(services, kind, tenant_id, page.rows, has_more=page.has_more)


def page_response(
    services: ApiServices,
    kind: str,
    tenant_id: UUID,
    rows: list[tuple[str, datetime, UUID]],
    *,
    has_more: bool,
) -> Response[Any]:
    """`{"data", "next_cursor", "has_more"}` from rows of (JSON text, created_at, id)."""
    next_cursor = None
    if has_more:
        _, created_at, last_id = rows[-1]
        next_cursor = services.cursors.encode(
            kind, tenant_id, [created_at.isoformat(), str(last_id)]
        )
    body = b"".join(
        [
            b'{"data":[',
            b",".join(row[0].encode() for row in rows),
            b'],"next_cursor":',
            msgspec.json.encode(next_cursor),
            b',"has_more":',
            b"true" if has_more else b"false",
            b"}",
        ]
    )
    return json_response(body)


def changes_of(body: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body sets (UNSET ones left out), as JSON-ready values."""
    return {
        name: value
        for name, value in msgspec.to_builtins(body).items()
        if value is not msgspec.UNSET
    }


IfMatchHeader = Annotated[
    str | None,
    Parameter(
        header="If-Match",
        required=False,
        description='Only act if the record is still at this ETag (`"3"`); 412 otherwise.',
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        required=False,
        description="Retrying with the same key and body returns the first answer"
        f" (1 to {MAX_IDEMPOTENCY_KEY} characters).",
    ),
]


async def create_record(
    services: ApiServices, request: Request[Any, Any, Any], kind: type[R], data: msgspec.Struct
) -> Response[Any]:
    """Create a record from a validated body, honouring `Idempotency-Key`; 201.

    A plain create reads nothing, so it runs on the event loop and awaits the group commit
    (the application's `save_async`): no worker thread per request. One with an Idempotency-Key
    (it looks for the first answer) or one that references another record (an order's
    contact) runs `Syncline.create_record` in a worker thread.
    """
    key, fingerprint = idempotency(request, data)
    ctx = request.user.context(correlation_id(request))
    fields = msgspec.to_builtins(data)
    app = services.app
    if key is None and not app.references(kind) and app.saves_async:
        record: R = app.new_record(kind, ctx, fields, request_hash=fingerprint)
        await app.save_async(record)
        created = True
    else:
        record, created = await to_thread.run_sync(
            functools.partial(
                app.create_record,
                kind,
                ctx,
                fields,
                idempotency_key=key,
                request_hash=fingerprint,
            )
        )
    headers = {} if created else {"Idempotent-Replayed": "true"}
    location = f"/v1/{kind.RESOURCE}s/{record.id}"
    return record_response(record, 201, Location=location, **headers)


def change_record(
    services: ApiServices,
    request: Request[Any, Any, Any],
    kind: type[R],
    record_id: UUID,
    command: Callable[[R, Context], object],
) -> R:
    """Run `command(record, ctx)` on the tenant's record and save it, honouring `If-Match`."""
    ctx = request.user.context(correlation_id(request))
    return services.app.update_record(
        kind, ctx, record_id, lambda record: command(record, ctx), if_match=if_match(request)
    )
