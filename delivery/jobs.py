"""Periodic delivery jobs, run by APScheduler in `syncline worker`: disable endpoints that
have failed for days, and forget old attempts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from apscheduler.schedulers.base import BaseScheduler
from psycopg_pool import ConnectionPool

from delivery.worker import utcnow

log = logging.getLogger(__name__)

# Disables a webhook: (tenant id, webhook id, reason) -> whether it was active until now.
DisableWebhook = Callable[[UUID, UUID, str], bool]

FAILING_FOR = timedelta(days=5)
RETENTION = timedelta(days=30)

# An endpoint is failing continuously when every attempt since `failing_since` failed; the
# clock restarts when the subscription is (re-)enabled.
FAILING_ENDPOINTS = """
SELECT s.id, s.tenant_id FROM webhook_endpoint_health h
JOIN webhook_subscriptions s ON s.id = h.subscription_id
WHERE s.status = 'active' AND h.failing_since IS NOT NULL
    AND greatest(h.failing_since, s.enabled_at) <= %s
ORDER BY s.id
"""
# Deliveries enqueued before the cutoff are long finished (the retry schedule spans days),
# unless still pending; their attempts and cancellations go with them.
PURGE_DELIVERIES = """
WITH purged AS (
    DELETE FROM webhook_deliveries d WHERE d.enqueued_at < %(cutoff)s AND NOT EXISTS (
        SELECT 1 FROM webhook_pending p WHERE p.subscription_id = d.subscription_id
            AND p.entity_id = d.entity_id AND p.delivery_id = d.id
    )
    RETURNING d.id
), cancellations AS (
    DELETE FROM webhook_cancellations c USING purged WHERE c.delivery_id = purged.id
), attempts AS (
    DELETE FROM webhook_attempts a USING purged WHERE a.delivery_id = purged.id
    RETURNING 1
)
SELECT count(*) FROM attempts
"""


class DeliveryJobs:
    """The jobs, with an injectable clock so tests need not wait five days. `disable` records
    a webhook's disabling (the composition root wires it to the application)."""

    def __init__(
        self,
        disable: DisableWebhook,
        pool: ConnectionPool,
        *,
        now: Callable[[], datetime] = utcnow,
        failing_for: timedelta = FAILING_FOR,
        retention: timedelta = RETENTION,
    ) -> None:
        self.disable = disable
        self.pool = pool
        self.now = now
        self.failing_for = failing_for
        self.retention = retention

    def disable_failing(self) -> list[UUID]:
        """Disable every endpoint failing continuously for `failing_for`; a `webhook.disabled`
        event is recorded for each. Answer the subscriptions disabled."""
        with self.pool.connection() as conn:
            rows = conn.execute(FAILING_ENDPOINTS, (self.now() - self.failing_for,)).fetchall()
        disabled = []
        for subscription_id, tenant_id in rows:
            if self.disable(tenant_id, subscription_id, "failing"):
                log.warning(
                    "webhook disabled after failing continuously",
                    extra={"webhook_id": str(subscription_id), "tenant_id": str(tenant_id)},
                )
                disabled.append(subscription_id)
        return disabled

    def purge_history(self) -> int:
        """Delete the finished deliveries enqueued before the retention period, with their
        attempts; answer how many attempts."""
        cutoff = self.now() - self.retention
        with self.pool.connection() as conn:
            row = conn.execute(PURGE_DELIVERIES, {"cutoff": cutoff}).fetchone()
        return int(row[0]) if row else 0

    def schedule(self, scheduler: BaseScheduler) -> None:
        """Add the jobs; one run at a time each, skipped runs coalesced."""
        options: dict[str, Any] = {"max_instances": 1, "coalesce": True, "replace_existing": True}
        scheduler.add_job(
            self.disable_failing, "interval", minutes=1, id="webhooks-disable", **options
        )
        scheduler.add_job(self.purge_history, "interval", hours=1, id="webhooks-purge", **options)
