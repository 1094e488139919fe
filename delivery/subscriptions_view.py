"""SubscriptionsView: reads the webhook subscriptions the subscriber keeps (the view side of
`delivery.subscriber`): a tenant's webhooks as listed, and what a replay needs of one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from projections.paging import Keyset, Page, keyset_page

# What the API names a webhook list cursor after (a key is `[created_at (ISO 8601), id]`).
CURSOR_KIND = "webhook_subscriptions"
OLDEST_FIRST = Keyset(("created_at::timestamptz", "id::uuid"))


@dataclass(frozen=True)
class ReplayTarget:
    """An active subscription's event type patterns and the log position it was created at."""

    event_types: list[str]
    created_position: int


class SubscriptionsView:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(self, tenant_id: UUID, *, after: Sequence[Any] | None = None, limit: int) -> Page[str]:
        """A page of the tenant's webhooks, oldest first, each as its representation's JSON
        (without secrets)."""
        with self.pool.connection() as conn:
            page = keyset_page(
                conn,
                "SELECT data::text, created_at, id FROM webhook_subscriptions",
                OLDEST_FIRST,
                where=["tenant_id = %s"],
                params=[tenant_id],
                after=after,
                limit=limit,
                key=lambda row: [row[1].isoformat(), str(row[2])],
            )
        return page.map(lambda row: str(row[0]))

    def replay_target(self, tenant_id: UUID, subscription_id: UUID) -> ReplayTarget | None:
        """The tenant's subscription if it is active (None if not, or not yet seen)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT event_types, created_position FROM webhook_subscriptions"
                " WHERE id = %s AND tenant_id = %s AND status = 'active'",
                (subscription_id, tenant_id),
            ).fetchone()
        return None if row is None else ReplayTarget(list(row[0]), int(row[1]))
