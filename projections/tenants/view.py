"""TenantsView: reads the operator's listings (the view side of TenantsProjection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.paging import Keyset, Page, Row, keyset_page
from projections.tenants.search import tenant_match

# Both listings page oldest first; a key is `[created_at (ISO 8601), id]`.
OLDEST_FIRST = Keyset(("created_at::timestamptz", "id::uuid"))


@dataclass(frozen=True)
class TenantRow:
    id: UUID
    name: str
    created_at: datetime
    status: str


@dataclass(frozen=True)
class CredentialRow:
    """A credential's metadata as the projection holds it (never its secret)."""

    id: UUID
    kind: str
    public_id: str
    tenant_id: UUID
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    expired_at: datetime | None


def _created_key(created_at: datetime, id_: UUID) -> list[Any]:
    return [created_at.isoformat(), str(id_)]


class TenantsView:
    """Tenants, and each tenant's credentials, oldest first."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def tenants(
        self, *, query: str | None = None, after: Sequence[Any] | None = None, limit: int
    ) -> Page[TenantRow]:
        """Tenants, all or those matching `query` (a name or id prefix: search.py)."""
        where: list[str] = []
        params: list[Any] = []
        if query is not None:
            condition, params = tenant_match(query)
            where.append(condition)
        with self.pool.connection() as conn:
            page = keyset_page(
                conn,
                "SELECT id, name, created_at, status FROM tenants",
                OLDEST_FIRST,
                where=where,
                params=params,
                after=after,
                limit=limit,
                key=lambda row: _created_key(row[2], row[0]),
            )
        return page.map(lambda row: TenantRow(*row))

    def credentials(
        self, tenant_id: UUID, *, after: Sequence[Any] | None = None, limit: int
    ) -> Page[CredentialRow]:
        with self.pool.connection() as conn:
            page = keyset_page(
                conn,
                "SELECT id, kind, public_id, tenant_id, scopes, created_at, expires_at,"
                " revoked_at, rotated_at, expired_at FROM credentials",
                OLDEST_FIRST,
                where=["tenant_id = %s"],
                params=[tenant_id],
                after=after,
                limit=limit,
                key=lambda row: _created_key(row[5], row[0]),
            )
        return page.map(_credential)


def _credential(row: Row) -> CredentialRow:
    id_, kind, public_id, tenant_id, scopes, created_at, expires_at, revoked, rotated, expired = row
    return CredentialRow(
        id_,
        kind,
        public_id,
        tenant_id,
        list(scopes),
        created_at,
        expires_at,
        revoked,
        rotated,
        expired,
    )
