"""Fresh statistics for the queue tables, so the planner looks a batch's rows up by key.

The queue tables empty and fill with every backlog. Analyzed while (nearly) empty, which
autovacuum does after a drain, their statistics say they hold a row or two whatever their
size, until autovacuum analyzes them again, up to a minute later. The planner then scans
such a "tiny" table once and rescans it for every row of a batch: with 31,000 deliveries
queued, each settle visited 2.4 million rows and took seconds, and delivery crawled until
the next ANALYZE. After a claim of at least CHECK_FROM queues (checked at most every
CHECK_INTERVAL seconds), the queue compares what the statistics say the tables hold with
the live rows PostgreSQL counts as they are written (`pg_stat_get_live_tuples`); when
either table holds more than twice as many, it analyzes both at once, and the plans made
with the old statistics are made again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHECK_INTERVAL = 10.0
CHECK_FROM = 16  # a claim of fewer rows is cheap whatever the plan

STALE = """
SELECT coalesce(bool_or(pg_stat_get_live_tuples(oid) > 2 * greatest(reltuples, 0) + %(slack)s),
    false)
FROM pg_class WHERE oid = ANY (ARRAY['webhook_queues'::regclass, 'webhook_pending'::regclass])
"""
ANALYZE = "ANALYZE (SKIP_LOCKED) webhook_queues, webhook_pending"


class QueueStatistics:
    """Analyzes the queue tables when a claim shows their statistics are stale."""

    def __init__(self) -> None:
        self._next_check = 0.0  # time.monotonic()

    async def after_claim(self, conn: psycopg.AsyncConnection[Any], claimed: int) -> None:
        """After a claim that leased `claimed` queues: analyze the tables if their statistics
        are stale."""
        now = time.monotonic()
        if claimed < CHECK_FROM or now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL
        row = await (await conn.execute(STALE, {"slack": CHECK_FROM})).fetchone()
        if row and row[0]:
            # Tables another role owns are skipped, with a warning in the server's log, and
            # left to autovacuum, as they are now.
            await conn.execute(ANALYZE)
            log.info("analyzed the webhook queue tables: their statistics were stale")
