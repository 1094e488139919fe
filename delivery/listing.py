"""A webhook's deliveries page: newest first, keyset-paged, filtered by state, event type
and time, without counting anything.

Each page is `limit` rows after a delivery id (the keyset), read in one snapshot with their
attempts. The plans stay small however long the history (1,000,000 deliveries in
`python -m bench portal`):
- no filter, or a type or time filter: the webhook's deliveries newest first, by the
  `(subscription_id, id)` or `(subscription_id, event_type, id)` index, stopping at `limit`;
- `pending`: from the webhook's pending rows (the backlog, small but for an outage);
- `failed`: from the webhook's failed attempts (a partial index), newest delivery first: a
  delivery that failed has at least one; those since delivered are passed over;
- `delivered` and `cancelled`: the state of each delivery, newest first, until the page is
  full (delivered is the common state; a cancellation follows disabling, which cancels the
  backlog: the newest deliveries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from psycopg_pool import ConnectionPool

from delivery.attempts import DELIVERY_COLUMNS, attempts_of, delivery_representation
from delivery.history import WITH_STATE
from projections.range_scan import RANGE_PLAN

State = Literal["pending", "delivered", "failed", "cancelled"]
STATES: tuple[State, ...] = ("pending", "delivered", "failed", "cancelled")

# Candidate delivery ids for a state that is rare among all deliveries, newest first.
CANDIDATES: dict[str, str] = {
    "pending": """SELECT delivery_id FROM webhook_pending
        WHERE subscription_id = %(subscription_id)s {before} ORDER BY delivery_id DESC""",
    "failed": """SELECT DISTINCT delivery_id FROM webhook_attempts
        WHERE subscription_id = %(subscription_id)s AND outcome <> 'delivered' {before}
        ORDER BY delivery_id DESC""",
}


@dataclass(frozen=True)
class DeliveryFilter:
    """What a deliveries page shows: all, or only one state, one event type, or deliveries
    of events that occurred in [occurred_after, occurred_before)."""

    status: State | None = None
    event_type: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


@dataclass(frozen=True)
class DeliveryPage:
    data: list[dict[str, Any]]
    last_id: int | None  # the keyset of the next page, when there is one
    has_more: bool


def utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC (not the database session's time zone)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def page_query(filters: DeliveryFilter, before: int | None) -> str:
    """The page's SQL, parameters by name (see `list_deliveries`)."""
    where = ["d.subscription_id = %(subscription_id)s", "d.tenant_id = %(tenant_id)s"]
    if filters.event_type is not None:
        where.append("d.event_type = %(event_type)s")
    if filters.occurred_after is not None:
        where.append("d.created_at >= %(occurred_after)s")
    if filters.occurred_before is not None:
        where.append("d.created_at < %(occurred_before)s")
    if filters.status is not None:
        where.append("s.state = %(status)s")
    candidates = CANDIDATES.get(filters.status or "")
    if candidates is None:
        if before is not None:
            where.append("d.id < %(before)s")
        # Ordered by (subscription_id, id), with the webhook as a one-value range rather
        # than an equality (which the planner would drop from the order): only the
        # webhook's own indexes give that order. Ordered by the id alone, the planner
        # takes the primary key backwards when one webhook has most of the rows, and may
        # filter its way through every newer delivery of the others.
        where[0] = "d.subscription_id BETWEEN %(subscription_id)s AND %(subscription_id)s"
        return f"""SELECT {DELIVERY_COLUMNS} FROM {WITH_STATE}
WHERE {" AND ".join(where)} ORDER BY d.subscription_id DESC, d.id DESC LIMIT %(limit)s"""
    # Driven by the candidates, newest first: each is looked up by key and kept if it
    # matches, until the page is full. `OFFSET 0` keeps the lookup a nested loop (pulled
    # up, it becomes a join over every delivery of the webhook).
    bound = "AND delivery_id < %(before)s" if before is not None else ""
    return f"""SELECT x.* FROM ({candidates.format(before=bound)}) f
CROSS JOIN LATERAL (
    SELECT {DELIVERY_COLUMNS} FROM {WITH_STATE}
    WHERE d.id = f.delivery_id AND {" AND ".join(where)} OFFSET 0
) x
ORDER BY f.delivery_id DESC LIMIT %(limit)s"""


def walks_an_index(filters: DeliveryFilter) -> bool:
    """Whether the page is a walk of one of the webhook's indexes, newest first, until the
    page is full (all deliveries, or one event type): planned so whatever the statistics
    say (`projections.range_scan`). A webhook whose deliveries grew since the table was
    last analyzed looks small to the planner, which then read all of them and sorted them
    for each page (30,000 deliveries: 45 ms a page instead of 0.1 ms). A time or state
    filter can leave that walk sparse: the planner decides."""
    return (filters.status, filters.occurred_after, filters.occurred_before) == (None,) * 3


def list_deliveries(
    pool: ConnectionPool,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    limit: int,
    before: int | None = None,
    filters: DeliveryFilter = DeliveryFilter(),
) -> DeliveryPage:
    """A page of the webhook's deliveries, newest first, each with its attempts (without
    the endpoints' answers: `delivery.attempts.get_delivery` has those). `before` is the
    keyset of a previous page (`DeliveryPage.last_id`)."""
    params: dict[str, Any] = {
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "before": before,
        "event_type": filters.event_type,
        "occurred_after": utc(filters.occurred_after),
        "occurred_before": utc(filters.occurred_before),
        "status": filters.status,
        "limit": limit + 1,
    }
    with pool.connection() as conn, conn.transaction():
        # One snapshot for both reads: retention may purge a delivery and its attempts
        # between two statements, leaving a "delivered" row without its attempts.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if walks_an_index(filters):
            conn.execute(RANGE_PLAN)  # for this transaction: see `walks_an_index`
        rows = conn.execute(page_query(filters, before), params).fetchall()  # type: ignore[arg-type]
        rows, has_more = rows[:limit], len(rows) > limit
        attempts = attempts_of(conn, [row[0] for row in rows])
    return DeliveryPage(
        data=[delivery_representation(row, attempts[row[0]]) for row in rows],
        last_id=rows[-1][0] if has_more else None,
        has_more=has_more,
    )
