"""Inline projections: the group commit writes their rows in the transaction of the events.

A projection that declares `inline = True` (projections.protocol) is prepared once over
the whole batch of saves and written, with its tracking position, in the same transaction
as the batch's events, so the read that starts after a write returned sees the write.

A batch is one transaction, and at the head one round trip. A batch of records' changes
alone (every create, update and delete) is one statement: the records projection's
`with_insert`, the insert and its upsert together. A batch that other inline projections
write too (a tenant, a credential, a webhook subscription) is one pipeline (psycopg's
pipeline mode: the insert and the projections' statements sent together), which the server
runs as one implicit transaction, committed at the pipeline's end. Measured in an API
process under `bench cost`'s creates, the pipeline of two statements took four sends and
seven waits for its answer, each a release and retake of the interpreter lock beside the
event loop (about 30 futex calls per create between the two threads); the one statement
takes one send and one or two waits. `syncline_insert_events_inline()` (migrations 0004,
0005) takes the event store's exclusive lock, inserts, and moves every inline projection
from the head before the insert to the batch's last id: the lock makes commit order id
order, so no other batch can commit between. A projection that is not at that head
(rebuilding, or catching up a database an older version wrote) makes the function raise
SQLSTATE SYN01, the transaction rolls back, and the batch is written again without it,
after reading which projections are at the head under the lock; its runner in
`syncline worker` catches it up and it is written inline again from the first batch after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql
from psycopg.pq import TransactionStatus

from projections.protocol import Projection

# The SQLSTATE syncline_insert_events_inline() raises when a projection is not at the head.
BEHIND = "SYN01"
# How long the flusher's connection attempt may take: a server that does not answer (a
# partition) fails the writes waiting for it, instead of holding them for TCP's minutes.
CONNECT_SECONDS = 5
# For the whole session: every statement it runs takes arrays of a batch's rows, which the
# generic plan serves as well as a plan made for the values.
GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan"
# The flusher's psycopg prepares nothing by count (see InlineWriter.write).
NEVER = 2**31 - 1


class InlineWriter:
    """Writes a batch of stored events, and the inline projections' rows for it."""

    def __init__(self, projections: Sequence[Projection], schema: str, table: str) -> None:
        self.projections = [p for p in projections if p.inline]
        # Projections found behind at the last batch: the next one checks under the lock.
        self.behind: set[str] = set()
        # The connection whose statements are prepared, and the projections whose writes
        # have been (none after a rollback: psycopg forgets its prepared statements then).
        self._prepared_on: psycopg.Connection[Any] | None = None
        self._prepared: set[str] = set()
        schema_id = sql.Identifier(schema)
        self._schema = schema_id.as_string()  # where a projection's `with_insert` calls
        self._insert_sql = (
            sql.SQL("SELECT * FROM {}.syncline_insert_events_inline(%s, %s, %s, %s, %s)")
            .format(schema_id)
            .as_string()
        )
        events = sql.Identifier(schema, table)
        self._lock_sql = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events).as_string()
        self._at_head_sql = (
            sql.SQL(
                "SELECT name FROM projection_tracking WHERE name = ANY(%s)"
                " AND position = (SELECT coalesce(max(notification_id), 0) FROM {})"
            )
            .format(events)
            .as_string()
        )

    @staticmethod
    def connect(conninfo: str) -> psycopg.Connection[Any]:
        """The flusher's connection. Its prepared statements run with PostgreSQL's generic
        plan: planned once per session, not once per batch. The records upsert's plan cost
        about what running it did (120 µs), paid by every batch, which is every create
        when writes come one at a time. What is prepared, and when, see `write`."""
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS)
        conn.prepare_threshold = NEVER
        conn.execute(GENERIC_PLANS)
        return conn

    def write(
        self,
        conn: psycopg.Connection[Any],
        events: Sequence[StoredEvent],
        domain_events: Sequence[Any] | None,
    ) -> list[int]:
        """Insert `events` and write the inline projections of `domain_events` (the same
        events, decoded) in one transaction; answers the notification ids. Without
        `domain_events` the projections are left behind, for their runners.

        The first batch on a connection that writes a projection prepares its
        statements, outside any pipeline; later batches' pipelines use them and prepare
        nothing but their first statement (the insert, or the records' call with it).
        psycopg names a statement as it sends its Parse; when a pipeline fails before that
        Parse, the server skips it, but psycopg (3.3) keeps the name, and every later use
        of it fails ("prepared statement does not exist")."""
        work = self._work(domain_events)
        if conn is not self._prepared_on:  # a new connection, or one that rolled back
            self._prepared_on, self._prepared = conn, set()
        if self._unprepared(work):
            return self._preparing(conn, events, work)
        if not self.behind or domain_events is None:
            try:
                return self._pipelined(conn, events, work)
            except psycopg.Error as exc:
                if exc.sqlstate != BEHIND:
                    raise
        return self._at_the_head(conn, events, work)

    def _preparing(
        self,
        conn: psycopg.Connection[Any],
        events: Sequence[StoredEvent],
        work: list[tuple[Projection, Any]],
    ) -> list[int]:
        """The batch in a transaction of its own round trips, each statement prepared as it
        goes (psycopg keeps a name only once the server has answered its Parse)."""
        conn.prepare_threshold = 0
        try:
            ids = self._at_the_head(conn, events, work)
        finally:
            conn.prepare_threshold = NEVER
        self._prepared |= {p.name for p, prepared in work if prepared is not None} - self.behind
        return ids

    def _unprepared(self, work: list[tuple[Projection, Any]]) -> bool:
        """Whether a projection writes in this batch whose statements are not prepared yet
        (it wrote nothing in the batches before: the records projection, after a first
        batch of tenants and credentials)."""
        return any(prepared is not None and p.name not in self._prepared for p, prepared in work)

    def _work(self, domain_events: Sequence[Any] | None) -> list[tuple[Projection, Any]]:
        """Each inline projection with its prepared rows for `domain_events` (a batch);
        none without them (the projections are then left to their runners)."""
        if domain_events is None:
            return []
        # No positions yet: each event comes with minus its place in the batch.
        batch = [(-place, event) for place, event in enumerate(domain_events, 1)]
        return [(p, p.prepare(batch)) for p in self.projections]

    def _insert(
        self, events: Sequence[StoredEvent], work: list[tuple[Projection, Any]]
    ) -> tuple[str, Sequence[Any], list[tuple[Projection, Any]]]:
        """The batch's first statement and its parameters, and the projections that write
        after it (those with rows to write): the insert, which moves every projection of
        `work` to the batch's end, and with it the rows of the first projection that writes
        them in the same statement (`with_insert`: the records projection)."""
        parameters = (
            [e.originator_id for e in events],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            [p.name for p, _ in work],
        )
        writing = [(p, prepared) for p, prepared in work if prepared is not None]
        for place, (projection, prepared) in enumerate(writing):
            joined = projection.with_insert(self._schema, parameters, prepared)
            if joined is not None:
                return joined[0], joined[1], writing[:place] + writing[place + 1 :]
        return self._insert_sql, parameters, writing

    def _pipelined(
        self,
        conn: psycopg.Connection[Any],
        events: Sequence[StoredEvent],
        work: list[tuple[Projection, Any]],
    ) -> list[int]:
        statement, parameters, after = self._insert(events, work)
        if not after:
            # One statement, in a transaction of its own (the connection autocommits).
            rows = conn.execute(statement, parameters, prepare=True).fetchall()
        else:
            rows = self._pipeline(conn, statement, parameters, after)
        self.behind = {p.name for p in self.projections} - {p.name for p, _ in work}
        return [row[0] for row in rows]

    def _pipeline(
        self,
        conn: psycopg.Connection[Any],
        statement: str,
        parameters: Sequence[Any],
        after: list[tuple[Projection, Any]],
    ) -> list[Any]:
        # One transaction without BEGIN or COMMIT: the server runs the statements up to a
        # pipeline's sync (here, its end) as one implicit transaction, committed at the
        # sync, or rolled back with the rest skipped when one fails. So the whole batch is
        # one round trip. Nothing in it may fetch a result before the end (psycopg would
        # sync there, committing what came before): projections' `write` only executes.
        try:
            with conn.pipeline():
                inserted = conn.execute(statement, parameters, prepare=True)
                with conn.cursor() as cur:
                    for projection, prepared in after:
                        projection.write(cur, prepared)
        except BaseException:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
                self._prepared_on = None  # psycopg has forgotten its prepared statements
            raise
        return inserted.fetchall()

    def _at_the_head(
        self,
        conn: psycopg.Connection[Any],
        events: Sequence[StoredEvent],
        work: list[tuple[Projection, Any]],
    ) -> list[int]:
        """The batch with only the projections at the head, read under the lock."""
        names = [p.name for p in self.projections]
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(self._lock_sql)
                at_head = {row[0] for row in cur.execute(self._at_head_sql, (names,))}
                work = [(p, prepared) for p, prepared in work if p.name in at_head]
                statement, parameters, after = self._insert(events, work)
                ids = [row[0] for row in cur.execute(statement, parameters)]
                for projection, prepared in after:
                    projection.write(cur, prepared)
        except BaseException:
            self._prepared_on = None  # rolled back: psycopg has forgotten its statements
            raise
        self.behind = set(names) - at_head
        return ids
