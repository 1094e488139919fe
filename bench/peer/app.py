"""The peer's API: POST/GET /v1/contacts with keyset pages and `updated_since`, Bearer keys.

Written as a CRUD service usually is: a contact is a row of typed columns, read back into
msgspec Structs that Litestar encodes. `GET /v1/rendered/contacts` answers the same pages
rendered by PostgreSQL and passed through (Syncline's feed's design), for reference.

Run as `python -m bench.peer.app --port P --workers 2` (uvicorn workers, like
`syncline serve --workers 2`); `DATABASE_URL` names the database.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.params import Parameter
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


class ContactCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    name: str | None = None
    phone: str | None = None
    company: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    custom_fields: dict[str, Any] = msgspec.field(default_factory=dict)


class Peer:
    """The process's async pool and its cache of verified API keys (token → tenant)."""

    def __init__(self) -> None:
        self.pool = AsyncConnectionPool(
            os.environ["DATABASE_URL"], min_size=4, max_size=4, open=False
        )
        self.keys: dict[str, uuid.UUID] = {}

    async def tenant_of(self, request: Request[Any, Any, Any]) -> uuid.UUID:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        tenant = self.keys.get(token)
        if tenant is None:
            digest = hashlib.sha256(token.encode()).digest()
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT tenant_id FROM peer_api_keys WHERE key_hash = %s", (digest,)
                )
                row = await cur.fetchone()
            if row is None:
                raise NotAuthorizedException("unknown API key")
            tenant = self.keys[token] = row[0]
        return tenant


PEER = Peer()


def peer() -> Peer:
    return PEER


def _encode_cursor(created_at: datetime, record_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{record_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, record_id = base64.urlsafe_b64decode(cursor).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(record_id)
    except ValueError as exc:
        raise ValidationException("cursor is not valid") from exc


class ContactOut(msgspec.Struct):
    """A contact as the API answers it (the columns of `COLUMNS`, in their order)."""

    id: uuid.UUID
    email: str
    name: str | None
    phone: str | None
    company: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class Page(msgspec.Struct):
    data: list[ContactOut]
    next_cursor: str | None
    has_more: bool


COLUMNS = ", ".join(ContactOut.__struct_fields__)
RENDERED = ", ".join(f"'{name}', {name}" for name in ContactOut.__struct_fields__)


@post("/v1/contacts")
async def create_contact(request: Request[Any, Any, Any], data: ContactCreate) -> Response[bytes]:
    tenant = await peer().tenant_of(request)
    now = datetime.now(UTC)
    contact = ContactOut(
        uuid.uuid4(), **msgspec.structs.asdict(data), version=1, created_at=now, updated_at=now
    )
    body = msgspec.json.encode(contact)
    async with peer().pool.connection() as conn, conn.transaction():
        await conn.execute(
            f"INSERT INTO peer_contacts (tenant_id, {COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                tenant,
                contact.id,
                contact.email,
                contact.name,
                contact.phone,
                contact.company,
                contact.tags,
                Jsonb(contact.custom_fields),
                contact.version,
                contact.created_at,
                contact.updated_at,
            ),
            prepare=True,
        )
        await conn.execute(
            "INSERT INTO peer_outbox (tenant_id, topic, payload) VALUES (%s, %s, %s)",
            (tenant, "contact.created", body.decode()),
            prepare=True,
        )
    return Response(body, status_code=201, media_type="application/json")


def _page_query(
    tenant: uuid.UUID, limit: int, cursor: str | None, updated_since: datetime | None
) -> tuple[str, str, list[Any]]:
    """The keyset page's ordering column, WHERE clause and parameters: by (created_at, id),
    or by (updated_at, id) with `updated_since`."""
    key = "updated_at" if updated_since is not None else "created_at"
    where, params = ["tenant_id = %s"], [tenant]
    if updated_since is not None:
        where.append("updated_at >= %s")
        params.append(updated_since)
    if cursor:
        at, last = _decode_cursor(cursor)
        where.append(f"({key}, id) > (%s, %s)")
        params += [at, last]
    return key, " AND ".join(where), [*params, limit + 1]


@get("/v1/contacts")
async def list_contacts(
    request: Request[Any, Any, Any],
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    updated_since: datetime | None = None,
) -> Page:
    """A keyset page: rows read into `ContactOut`s, which Litestar encodes (msgspec)."""
    tenant = await peer().tenant_of(request)
    key, where, params = _page_query(tenant, limit, cursor, updated_since)
    async with peer().pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM peer_contacts WHERE {where} ORDER BY {key}, id LIMIT %s",
            params,
            prepare=True,
        )
        rows = await cur.fetchall()
    has_more = len(rows) > limit
    contacts = [ContactOut(*row) for row in rows[:limit]]
    next_cursor = None
    if has_more:
        last = contacts[-1]
        next_cursor = _encode_cursor(getattr(last, key), last.id)
    return Page(contacts, next_cursor, has_more)


@get("/v1/rendered/contacts")
async def list_rendered_contacts(
    request: Request[Any, Any, Any],
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    updated_since: datetime | None = None,
) -> Response[bytes]:
    """The same pages, each item rendered to JSON text by PostgreSQL and passed through as
    bytes, as Syncline's feed is: not what a CRUD service is usually written as, measured
    beside it to show how much of the sync figure that one design choice is."""
    tenant = await peer().tenant_of(request)
    key, where, params = _page_query(tenant, limit, cursor, updated_since)
    # As UTF-8 bytes in binary format, as Syncline's feed reads its items: no text to decode
    # and encode again per row.
    async with peer().pool.connection() as conn, conn.cursor(binary=True) as cur:
        await cur.execute(
            f"SELECT convert_to(json_build_object({RENDERED})::text, 'UTF8'), {key}, id"
            f" FROM peer_contacts WHERE {where} ORDER BY {key}, id LIMIT %s",
            params,
            prepare=True,
        )
        rows = await cur.fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1][1], rows[-1][2]) if has_more else None
    body = b"".join(
        [
            b'{"data":[',
            b",".join(row[0] for row in rows),
            b'],"next_cursor":',
            msgspec.json.encode(next_cursor),
            b',"has_more":',
            b"true" if has_more else b"false",
            b"}",
        ]
    )
    return Response(body, media_type="application/json")


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def open_pool() -> None:
    await PEER.pool.open()


async def close_pool() -> None:
    await PEER.pool.close()


def create() -> Litestar:
    return Litestar(
        route_handlers=[create_contact, list_contacts, list_rendered_contacts, healthz],
        on_startup=[open_pool],
        on_shutdown=[close_pool],
        debug=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run(
        "bench.peer.app:create",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
