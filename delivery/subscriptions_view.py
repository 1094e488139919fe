"""SubscriptionsView: reads the webhook subscriptions the subscriber keeps (the view side of
`delivery.subscriber`): what a replay needs of one. The API lists webhooks from the inline
read model instead (projections/webhooks/view.py)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class ReplayTarget:
    """An active subscription's event type patterns and the log position it was created at."""

    event_types: list[str]
    created_position: int


class SubscriptionsView:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def replay_target(self, tenant_id: UUID, subscription_id: UUID) -> ReplayTarget | None:
        """The tenant's subscription if it is active (None if not, or not yet seen)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT event_types, created_position FROM webhook_subscriptions"
                " WHERE id = %s AND tenant_id = %s AND status = 'active'",
                (subscription_id, tenant_id),
            ).fetchone()
        return None if row is None else ReplayTarget(list(row[0]), int(row[1]))
