"""Range reads: a page query planned as an index range scan, whatever the statistics say.

A page of a tenant's feed or list is a range of an index, read in the index's order: read
that way it costs the page, whatever the tenant's size. PostgreSQL plans from statistics,
though, and a tenant that has grown since the table was last analyzed looks small to it (a
tenant importing 30,000 records into a table analyzed with 200 small tenants: 170 rows
estimated). It then plans a bitmap scan of every row the tenant has and a sort of them
for each page: O(n) per page, O(n²) for an initial sync, and a table as large as a busy
deployment's is analyzed again only after a tenth of it changes.

`fetch_range` runs such a statement with bitmap scans off and sorts priced out, for its
own transaction only (`set_config(…, true)`), so the range scan is the plan left. The
transaction's statements go in one pipeline: one round trip, as the statement alone took.
Only for queries whose every page is a range of one index (or a merge of such ranges); a
filter that could leave the range sparse (rows updated since a time, in a list ordered by
creation) is left to the planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

Row = tuple[Any, ...]

IDLE = psycopg.pq.TransactionStatus.IDLE
RANGE_PLAN = (
    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"
)


def fetch_range(
    conn: psycopg.Connection[Any],
    query: str | sql.Composed,
    params: Sequence[object],
    *,
    binary: bool = False,
) -> list[Row]:
    """The rows of `query`, prepared (a page query runs again and again), and planned as a
    range scan (see the module) on an autocommit connection outside a transaction: every
    pooled connection (`syncline.database.open_pool` makes them autocommit again as they
    come back). On any other connection the statement runs as it is, planned from the
    statistics: its BEGIN and COMMIT would end the caller's transaction, and settings made
    inside it would outlast the statement."""
    with conn.cursor(binary=binary) as cur:
        if not conn.autocommit or conn.info.transaction_status != IDLE:
            return cur.execute(query, params, prepare=True).fetchall()  # type: ignore[arg-type]
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute(RANGE_PLAN, prepare=True)
                cur.execute(query, params, prepare=True)  # type: ignore[arg-type]
                conn.execute("COMMIT")
        except BaseException:
            if not (conn.info.transaction_status == IDLE or conn.closed):
                conn.rollback()  # the statement failed inside the transaction
            raise
        return cur.fetchall()
