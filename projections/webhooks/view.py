"""WebhooksView: a tenant's webhooks as the API lists them, from the inline `webhooks` table
(written with the subscriptions' events, so a list read after a write includes it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.paging import Keyset, Page, keyset_page

# What the API names a webhook list cursor after (a key is `[created_at (ISO 8601), id]`).
CURSOR_KIND = "webhook_subscriptions"
OLDEST_FIRST = Keyset(("created_at::timestamptz", "id::uuid"))


class WebhooksView:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(self, tenant_id: UUID, *, after: Sequence[Any] | None = None, limit: int) -> Page[str]:
        """A page of the tenant's webhooks, oldest first, each as its representation's JSON
        (without secrets)."""
        with self.pool.connection() as conn:
            page = keyset_page(
                conn,
                "SELECT data::text, created_at, id FROM webhooks",
                OLDEST_FIRST,
                where=["tenant_id = %s"],
                params=[tenant_id],
                after=after,
                limit=limit,
                key=lambda row: [row[1].isoformat(), str(row[2])],
            )
        return page.map(lambda row: str(row[0]))
