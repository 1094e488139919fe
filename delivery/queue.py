"""The delivery queue: the workers' claim and settle statements, their typed rows, and
`DeliveryQueue`, the one gateway a worker calls (as procrastinate's `JobManager` is).

Rows are built by column name: a claim's columns are `Claim`'s fields, in their order
(`claim_row` checks), and a settlement's JSON objects are `Result`'s and `EndpointHealth`'s
fields. A new column is a field here and a name in one statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self
from uuid import UUID

import msgspec
import psycopg
from psycopg import sql
from psycopg.rows import RowMaker

from delivery.outbox import DELIVERY_CHANNEL
from delivery.outcome import Outcome
from delivery.statistics import QueueStatistics

# The fair claim (docs/internals/webhook-delivery.md, "Fair scheduling"). Endpoints with
# queued work are found by skipping through the queues' key index (one probe per endpoint,
# not per queued row); those whose breaker holds them, or that have no room left under their
# in-flight limit, are passed over; the rest are served least recently served first, each
# given its oldest due queues up to its room (one while half-open), until `limit`. Each
# endpoint served moves to the back of the round-robin; an open breaker whose hold ran out
# lets one probe through (half-open, held for the probe's lease).
# `busy`: per endpoint, what this worker claimed and has not finished, and any own allowance.
CLAIM = """
WITH RECURSIVE endpoints AS (
    (SELECT subscription_id FROM webhook_queues ORDER BY subscription_id LIMIT 1)
    UNION ALL
    SELECT (SELECT q.subscription_id FROM webhook_queues q
        WHERE q.subscription_id > e.subscription_id ORDER BY q.subscription_id LIMIT 1)
    FROM endpoints e WHERE e.subscription_id IS NOT NULL
), ready AS MATERIALIZED (
    SELECT e.subscription_id,
        CASE WHEN coalesce(s.circuit, 'closed') = 'closed' THEN r.room ELSE least(r.room, 1)
        END AS room
    FROM endpoints e
    LEFT JOIN webhook_endpoint_state s ON s.subscription_id = e.subscription_id
    LEFT JOIN json_to_recordset(%(busy)s::json) AS b(subscription_id uuid, n integer,
        allowance integer) ON b.subscription_id = e.subscription_id
    CROSS JOIN LATERAL (SELECT coalesce(b.allowance, %(per_endpoint)s::integer)
        - coalesce(b.n, 0) AS room) r
    WHERE e.subscription_id IS NOT NULL AND r.room > 0
        AND (s.held_until IS NULL OR s.held_until <= %(now)s)
    ORDER BY s.last_served_at NULLS FIRST, e.subscription_id
), due AS (
    SELECT q.subscription_id, q.entity_id FROM ready r
    CROSS JOIN LATERAL (
        SELECT q.subscription_id, q.entity_id FROM webhook_queues q
        WHERE q.subscription_id = r.subscription_id AND q.next_attempt_at <= %(now)s
            AND (q.leased_until IS NULL OR q.leased_until <= %(now)s)
        ORDER BY q.next_attempt_at
        -- One claim's share of an endpoint: its room, but no more than an equal part of
        -- the claim (and at least `share` in all): a claim spreads over the ready endpoints
        -- instead of filling the first few, whose in-flight limits would leave senders idle.
        LIMIT least(r.room, greatest(%(share)s::integer,
            ceil(%(limit)s::numeric / (SELECT count(*) FROM ready))::integer))
        FOR UPDATE SKIP LOCKED
    ) q
    LIMIT %(limit)s
), leased AS (
    UPDATE webhook_queues q SET leased_until = %(lease_until)s
    FROM due WHERE q.subscription_id = due.subscription_id AND q.entity_id = due.entity_id
    RETURNING q.subscription_id, q.entity_id
), served AS (
    INSERT INTO webhook_endpoint_state AS s (subscription_id, last_served_at)
    SELECT DISTINCT subscription_id, %(now)s::timestamptz FROM due ORDER BY 1
    ON CONFLICT (subscription_id) DO UPDATE SET last_served_at = excluded.last_served_at,
        circuit = CASE WHEN s.circuit = 'closed' THEN 'closed' ELSE 'half_open' END,
        held_until = CASE WHEN s.circuit = 'closed' THEN NULL ELSE %(lease_until)s END
)
SELECT l.subscription_id, l.entity_id, d.id AS delivery_id, d.tenant_id, d.event_id, d.event_type,
    d.correlation_id, d.body, p.attempts, d.created_at,
    s.url, s.secret, s.previous_secret, s.previous_secret_expires_at
FROM leased l
LEFT JOIN LATERAL (
    SELECT p.delivery_id, p.attempts FROM webhook_pending p
    WHERE p.subscription_id = l.subscription_id AND p.entity_id = l.entity_id
    ORDER BY p.delivery_id LIMIT 1
) p ON true
LEFT JOIN webhook_deliveries d ON d.id = p.delivery_id
LEFT JOIN webhook_subscriptions s ON s.id = l.subscription_id
"""

# Settling takes JSON arrays (msgspec encodes them far faster than psycopg adapts arrays):
# `results` has one `Result` per claimed queue, parsed by column name into the settle
# function's row type (`webhook_settle_result`, in syncline/migrations/).
RESULTS = "json_populate_recordset(NULL::webhook_settle_result, %(results)s::json) AS r"

# Settling is one call of `syncline_webhook_settle()` (syncline/migrations/), which runs these four
# statements in order; a single statement in autocommit, so a batch costs one round trip,
# sends its results once, and needs no BEGIN, COMMIT or pipeline on the client.
#
# The planner takes a batch (`json_to_recordset`) for 100 rows, so with a large backlog it
# would hash-join a scan of every queue row, twice per batch: draining n deliveries would
# cost O(n²) in the database. A batch is at most a few windows of rows, so index lookups are
# always right: the function turns hash and merge joins off for itself (`SETTLE_PLAN` is the
# same for running the statements alone, as the plan test does).
SETTLE_PLAN = """
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
"""

# 1. Queue rows first, in key order: the subscriber locks them the same way.
LOCK_QUEUES = f"""
SELECT 1 FROM webhook_queues q JOIN {RESULTS}
    ON q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
ORDER BY q.subscription_id, q.entity_id
FOR UPDATE OF q
"""

# 2. Record the attempts; a delivery delivered or given up leaves the pending rows (one
# cancelled meanwhile has already left: a success still shows as delivered, a failure
# changes nothing), one to be retried counts the attempt; add to the endpoint health and
# the metrics. Independent tables, so one statement.
SETTLE = f"""
WITH r AS (SELECT * FROM {RESULTS}),
attempts AS (
    INSERT INTO webhook_attempts (delivery_id, subscription_id, attempted_at, outcome,
        status_code, latency_ms, error, request_headers, response_headers, response_body,
        response_truncated)
    SELECT delivery_id, subscription_id, attempted_at, outcome, status_code, latency_ms, error,
        request_headers, response_headers, response_body, response_truncated
    FROM r WHERE delivery_id IS NOT NULL
),
finished AS (
    DELETE FROM webhook_pending p USING r
    WHERE r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
retried AS (
    UPDATE webhook_pending p SET attempts = p.attempts + 1, next_attempt_at = r.retry_at
    FROM r WHERE NOT r.moved_on AND p.subscription_id = r.subscription_id
        AND p.entity_id = r.entity_id AND p.delivery_id = r.delivery_id
),
health AS (
    INSERT INTO webhook_endpoint_health AS h (subscription_id, failing_since, last_success_at,
        last_failure_at)
    SELECT * FROM json_to_recordset(%(health)s::json) AS e(subscription_id uuid,
        failing_since timestamptz, last_success_at timestamptz, last_failure_at timestamptz)
    ORDER BY subscription_id
    ON CONFLICT (subscription_id) DO UPDATE SET
        failing_since = CASE
            WHEN excluded.last_success_at IS NOT NULL THEN excluded.failing_since
            ELSE coalesce(h.failing_since, excluded.failing_since) END,
        last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
        last_failure_at = coalesce(excluded.last_failure_at, h.last_failure_at)
)
INSERT INTO webhook_metrics AS m (name, label, value)
SELECT * FROM json_to_recordset(%(metrics)s::json) AS i(name text, label text, value float8)
ORDER BY name, label
ON CONFLICT (name, label) DO UPDATE SET value = m.value + excluded.value
"""

# 3. A fresh statement (a volatile function takes a snapshot per statement), so it sees
# deliveries the subscriber committed while we waited for the locks: a queue whose head left
# is dropped if nothing else is pending in it.
DROP_EMPTY_QUEUES = f"""
DELETE FROM webhook_queues q USING {RESULTS}
WHERE r.moved_on AND q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
AND NOT EXISTS (
    SELECT 1 FROM webhook_pending p
    WHERE p.subscription_id = q.subscription_id AND p.entity_id = q.entity_id
)
"""

# 4. Every other queue is released, due at once (it was due when claimed) or at the retry's
# time. (A separate statement, not a CTE beside the delete: this one's snapshot no longer
# has the dropped rows, where excluding them in one statement was a nested anti-join.)
RELEASE_QUEUES = f"""
UPDATE webhook_queues q SET leased_until = NULL,
    next_attempt_at = coalesce(r.retry_at, q.next_attempt_at)
FROM {RESULTS} WHERE q.subscription_id = r.subscription_id AND q.entity_id = r.entity_id
"""
# With the circuit breaker's step (`syncline_webhook_breaker()`, migration 0006) in the same
# statement: still one round trip and one transaction.
SETTLE_CALL = """
SELECT syncline_webhook_settle(%(results)s, %(health)s, %(metrics)s),
    syncline_webhook_breaker(%(breaker)s, %(now)s, %(threshold)s, %(hold)s, %(max_hold)s)
"""


SETTLE_ATTEMPTS = 3  # a settle that hits a deadlock is tried again, this many times in all
_encoder = msgspec.json.Encoder()


class Claim(msgspec.Struct, frozen=True, gc=False):
    """A leased queue and its head delivery (`CLAIM`'s row: its columns in the order of these
    fields). An empty queue (its deliveries were cancelled) has no head: `delivery_id` is
    None, and so are the head's columns.

    msgspec Structs, not dataclasses, for the per-delivery objects: a frozen dataclass
    spends microseconds in `__init__`, per delivery. They hold no container that could
    refer back to them, so they are left out of the garbage collector's sight
    (`gc=False`): the deliveries claimed ahead no longer count towards its collections."""

    subscription_id: UUID
    entity_id: UUID
    delivery_id: int | None
    tenant_id: UUID | None
    event_id: str
    event_type: str
    correlation_id: str
    body: bytes
    attempts: int
    created_at: datetime | None
    url: str | None
    secret: str | None
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


def claim_row(cursor: Any) -> RowMaker[Claim]:
    """psycopg row factory: `CLAIM`'s rows as `Claim`s, built by position once the result's
    column names are checked against the fields (psycopg's `class_row` builds a dict of
    names per row)."""
    names = tuple(column.name for column in cursor.description or ())
    if names != Claim.__struct_fields__:
        raise TypeError(f"the claim's columns {names} are not Claim's fields")

    def make(values: Sequence[Any]) -> Claim:
        return Claim(*values)

    return make


class Result(msgspec.Struct, omit_defaults=True, gc=False):
    """One claimed queue's row of a settlement (`RESULTS`): its head's attempt, when it had
    one, and whether the queue moves on. Unset fields are left out of the JSON."""

    subscription_id: UUID
    entity_id: UUID
    moved_on: bool
    delivery_id: int | None = None
    attempted_at: datetime | None = None
    outcome: Outcome | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    retry_at: datetime | None = None
    # The headers the attempt was sent with (`delivery.headers`): [[name, value], …].
    request_headers: list[tuple[str, str]] | None = None
    # What the endpoint answered, capped (`delivery.response`): [[name, value], …], text.
    response_headers: list[tuple[str, str]] | None = None
    response_body: str | None = None
    response_truncated: bool | None = None


class EndpointHealth(msgspec.Struct, gc=False):
    """One endpoint's row of a settlement: since when it has been failing (None after a
    success), and its last success and failure in the batch."""

    subscription_id: UUID
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


class EndpointFailures(msgspec.Struct, gc=False):
    """One endpoint's row of a settlement for its circuit breaker: the failed attempts after
    its last success in the batch, whether any attempt succeeded, and whether one was
    answered 410 (which opens the circuit at once: migration 0011)."""

    subscription_id: UUID
    failures: int
    recovered: bool
    gone: bool = False


class BreakerPolicy(msgspec.Struct, frozen=True):
    """When an endpoint's circuit opens (`failures` failed attempts in a row, or a failed
    half-open probe) and how long it is held: `hold` seconds, doubled each time it opens
    again in a row, at most `max_hold`."""

    failures: int = 5
    hold: float = 30.0
    max_hold: float = 600.0


class MetricIncrement(msgspec.Struct, gc=False):
    """One `webhook_metrics` row to add to (`delivery.metrics.increments`)."""

    name: str
    label: str
    value: float


def busy_json(busy: Mapping[UUID, int], allowances: Mapping[UUID, int]) -> str:
    """`CLAIM`'s `busy`: per endpoint, claimed and not finished (`n`), and its own allowance."""
    rows = [
        {"subscription_id": k, "n": busy.get(k, 0), "allowance": allowances.get(k)}
        for k in busy.keys() | allowances.keys()
        if busy.get(k, 0) > 0 or k in allowances
    ]
    return _encoder.encode(rows).decode()


class DeliveryQueue:
    """The worker's gateway to the queue tables: claim due queues, settle what was sent, and
    hear when deliveries are enqueued. Two autocommit connections: one for statements, one
    listening on `DELIVERY_CHANNEL`."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], listener: psycopg.AsyncConnection[Any]
    ) -> None:
        self.conn = conn
        self.listener = listener
        self.statistics = QueueStatistics()

    @classmethod
    async def connect(cls, conninfo: str) -> Self:
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        try:
            listener = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, listener)

    async def close(self) -> None:
        await self.conn.close()
        await self.listener.close()

    async def claim(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        limit: int,
        per_endpoint: int,
        busy: Mapping[UUID, int] | None = None,
        share: int | None = None,
        allowances: Mapping[UUID, int] | None = None,
    ) -> list[Claim]:
        """Lease up to `limit` due queues until `lease_until`, fairly across endpoints: each
        at most its allowance (`per_endpoint`, or its own in `allowances`) less what this
        worker has claimed of it (`busy`), and no more than an equal part of `limit` or
        `share`, whichever is more; answer them with their heads.

        One statement in autocommit (no BEGIN/COMMIT round trips); binary results, each row
        a `Claim` by position. A claim that shows the queue tables' statistics are stale has
        them analyzed (`delivery.statistics`)."""
        params = {
            "now": now,
            "lease_until": lease_until,
            "limit": limit,
            "per_endpoint": per_endpoint,
            "share": per_endpoint if share is None else share,
            "busy": busy_json(busy or {}, allowances or {}),
        }
        async with self.conn.cursor(row_factory=claim_row) as cur:
            await cur.execute(CLAIM, params, binary=True)
            claims = await cur.fetchall()
        await self.statistics.after_claim(self.conn, len(claims))
        return claims

    async def settle(
        self,
        results: Sequence[Result],
        health: Sequence[EndpointHealth] = (),
        metrics: Sequence[MetricIncrement] = (),
        breaker: Sequence[EndpointFailures] = (),
        *,
        now: datetime | None = None,
        policy: BreakerPolicy = BreakerPolicy(),
    ) -> list[UUID]:
        """Record a batch of attempts and move their queues on (or release them for a retry),
        add to the endpoint health and the metrics, and step the endpoints' circuit breakers
        (at `now`): one statement in autocommit, so one round trip and no BEGIN or COMMIT.
        Answers the endpoints whose circuit this opened."""
        params = {
            "results": _encoder.encode(results).decode(),
            "health": _encoder.encode(health).decode(),
            "metrics": _encoder.encode(metrics).decode(),
            "breaker": _encoder.encode(breaker).decode(),
            "now": now or datetime.now(UTC),
            "threshold": policy.failures,
            "hold": policy.hold,
            "max_hold": policy.max_hold,
        }
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                row = await (await self.conn.execute(SETTLE_CALL, params)).fetchone()
                return list(row[1]) if row and row[1] else []
            except psycopg.errors.DeadlockDetected:
                if attempt == SETTLE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def enqueued(self) -> AsyncIterator[None]:
        """Yield each time deliveries are enqueued (the subscriber's NOTIFY)."""
        await self.listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(DELIVERY_CHANNEL)))
        async for _ in self.listener.notifies():
            yield None
