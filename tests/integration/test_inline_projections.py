"""Inline projections: written with their events by the group commit, with no worker running;
one that is behind is left to its runner, which brings it back to the head."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from domain.contact import Contact
from domain.context import Actor, Context
from projections.changes.feed import ChangeFeed
from projections.protocol import Projection
from projections.records.projection import CHANGES_CHANNEL
from projections.runner import ProjectionRunner
from syncline.inline import InlineWriter
from syncline.runtime import Runtime


def head(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def positions(runtime: Runtime) -> dict[str, int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
    return dict(rows)


def listed(runtime: Runtime, tenant_id: Any) -> dict[str, int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT data->>'email', version FROM records WHERE tenant_id = %s AND NOT deleted",
            (tenant_id,),
        ).fetchall()
    return dict(rows)


def test_saves_write_the_records_table_and_its_position_with_no_worker(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    contact, _ = rt.app.create_record(Contact, ctx, {"email": "sync@example.com"})  # save()

    async def create_many() -> None:
        records = [
            rt.app.new_record(Contact, ctx, {"email": f"a{i}@example.com"}) for i in range(50)
        ]
        await asyncio.gather(*(rt.app.save_async(r) for r in records))  # one batch or a few

    asyncio.run(create_many())
    rt.app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "Ada"}))
    assert listed(rt, ctx.tenant_id) == {"sync@example.com": 2} | {
        f"a{i}@example.com": 1 for i in range(50)
    }
    assert positions(rt)["records"] == head(rt)
    rt.app.update_record(Contact, ctx, contact.id, lambda c: c.delete(ctx))
    assert "sync@example.com" not in listed(rt, ctx.tenant_id)
    assert positions(rt)["records"] == head(rt)


def test_an_inline_write_is_the_change_feed_at_its_events_positions_and_wakes_long_polls(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    with psycopg.connect(rt.database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGES_CHANNEL}")
        kept, _ = rt.app.create_record(Contact, ctx, {"email": "kept@example.com"})
        gone, _ = rt.app.create_record(Contact, ctx, {"email": "gone@example.com"})

        async def create_many() -> None:
            records = [
                rt.app.new_record(Contact, ctx, {"email": f"a{i}@example.com"}) for i in range(20)
            ]
            await asyncio.gather(*(rt.app.save_async(r) for r in records))

        asyncio.run(create_many())
        rt.app.update_record(Contact, ctx, kept.id, lambda c: c.update(ctx, {"name": "Ada"}))
        rt.app.update_record(Contact, ctx, gone.id, lambda c: c.delete(ctx))
        woken = {n.payload for n in listener.notifies(timeout=1.0, stop_after=1)}
    assert woken == {str(ctx.tenant_id)}  # sent by the write itself: no worker runs

    feed = ChangeFeed(rt.pool)
    assert feed.head() == head(rt)
    page = feed.page(ctx.tenant_id, 0, 100)
    with rt.pool.connection() as conn:
        last_events = conn.execute(
            "SELECT max(notification_id) FROM syncline_events"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id ORDER BY 1",
            ([UUID(str(item.split(b'"id":"')[1][:36], "ascii")) for _, item in page.items],),
        ).fetchall()
    assert [position for position, _ in page.items] == [row[0] for row in last_events]
    assert len(page.items) == 22
    assert b'"deleted":true' in page.items[-1][1]
    assert b'"data":null' in page.items[-1][1]
    assert b'"event_type":"contact.updated"' in page.items[-2][1]


def test_a_projection_behind_is_left_to_its_runner_then_written_inline_again(
    idle_runtime: Runtime,
) -> None:
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    rt.app.create_record(Contact, ctx, {"email": "first@example.com"})
    with rt.pool.connection() as conn:  # as after a rebuild's reset, or an older database
        conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'records'")
        conn.execute("TRUNCATE records")
    rt.app.create_record(Contact, ctx, {"email": "second@example.com"})
    assert listed(rt, ctx.tenant_id) == {}  # not written: the projection is behind
    assert positions(rt)["records"] == 0

    runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"))
    assert runner.process_available() == 2  # the two events (ids may have gaps)
    assert positions(rt)["records"] == head(rt)
    assert listed(rt, ctx.tenant_id) == {"first@example.com": 1, "second@example.com": 1}

    rt.app.create_record(Contact, ctx, {"email": "third@example.com"})  # inline again
    assert listed(rt, ctx.tenant_id)["third@example.com"] == 1
    assert positions(rt)["records"] == head(rt)
    assert runner.process_available() == 0  # at the head: nothing to redo


def test_rebuilding_an_inline_projection_ends_at_the_live_head(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    for i in range(30):
        rt.app.create_record(Contact, ctx, {"email": f"r{i}@example.com"})
    with rt.pool.connection() as conn:
        before = conn.execute("SELECT * FROM records ORDER BY id").fetchall()
    runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"), batch_size=7)
    assert runner.rebuild() == 30
    with rt.pool.connection() as conn:
        assert conn.execute("SELECT * FROM records ORDER BY id").fetchall() == before
    assert positions(rt)["records"] == head(rt)
    rt.app.create_record(Contact, ctx, {"email": "after@example.com"})
    assert listed(rt, ctx.tenant_id)["after@example.com"] == 1


def test_a_rebuild_ending_on_a_full_batch_takes_the_saves_made_meanwhile(
    idle_runtime: Runtime,
) -> None:
    """The log's head at the rebuild's start ends a full batch: the saves made meanwhile
    (without the projection, which is behind) are caught up under the lock all the same."""
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    for i in range(20):
        rt.app.create_record(Contact, ctx, {"email": f"before{i}@example.com"})
    saved: list[int] = []

    def save_meanwhile(done: int, total: int) -> None:
        if done and not saved:  # after the first batch
            rt.app.create_record(Contact, ctx, {"email": "meanwhile@example.com"})
            saved.append(done)

    runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"), batch_size=10)
    runner.rebuild(progress=save_meanwhile)
    assert saved
    assert positions(rt)["records"] == head(rt)
    rt.app.create_record(Contact, ctx, {"email": "after@example.com"})  # inline again
    assert set(listed(rt, ctx.tenant_id)) == {f"before{i}@example.com" for i in range(20)} | {
        "meanwhile@example.com",
        "after@example.com",
    }


def test_a_rebuild_with_saves_going_on_loses_and_doubles_nothing(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    for i in range(100):
        rt.app.create_record(Contact, ctx, {"email": f"before{i}@example.com"})
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        while not stop.is_set():
            n = len(written)
            rt.app.create_record(Contact, ctx, {"email": f"during{n}@example.com"})
            written.append(n)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"), batch_size=10)
        runner.rebuild()
    finally:
        stop.set()
        writer.join()
    assert written, "no save ran during the rebuild: nothing was tested"
    assert positions(rt)["records"] == head(rt)  # inline again: the last stretch was locked
    expected = {f"before{i}@example.com": 1 for i in range(100)}
    expected |= {f"during{n}@example.com": 1 for n in written}
    assert listed(rt, ctx.tenant_id) == expected


def test_saves_after_conflicts_and_a_projection_behind_keep_working(
    idle_runtime: Runtime,
) -> None:
    """A batch that fails (a conflict, a projection behind) rolls back: the next batches,
    and their prepared statements, go on as before."""
    rt = idle_runtime
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    contact, _ = rt.app.create_record(Contact, ctx, {"email": "c@example.com"})
    runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"))
    for i in range(12):
        stale = rt.app.get_record(Contact, ctx, contact.id)
        rt.app.update_record(
            Contact, ctx, contact.id, lambda c, i=i: c.update(ctx, {"name": f"a{i}"})
        )
        stale.update(ctx, {"name": "stale"})
        with pytest.raises(IntegrityError):
            rt.app.save(stale)  # conflicts: its batch rolls back
        if i % 4 == 3:
            with rt.pool.connection() as conn:
                conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'records'")
            rt.app.create_record(Contact, ctx, {"email": f"behind{i}@example.com"})
            runner.process_available()
        rt.app.create_record(Contact, ctx, {"email": f"n{i}@example.com"})
    assert listed(rt, ctx.tenant_id)["c@example.com"] == 13
    assert positions(rt)["records"] == head(rt)


def test_a_batch_whose_projection_write_fails_commits_none_of_it(
    idle_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is one transaction: when a statement after the insert fails, neither its
    events nor any projection's rows (the records upsert that went with the insert
    included) or positions are committed, and the flusher's connection goes on to commit
    the next batch. Both ways a batch that another projection writes after the records is
    sent: the transaction of its own round trips that prepares (the first on a
    connection), and the pipeline (every later one)."""
    rt = idle_runtime
    records = rt.projection("records")

    class FailsAfterWriting(Projection):
        name = "tenants"  # an inline projection at the head, which writes after the insert
        inline = True
        failing = True

        def prepare(self, events: Any) -> Any:
            return events

        def write(self, cur: psycopg.Cursor[Any], prepared: Any) -> None:
            cur.execute("UPDATE projection_tracking SET updated_at = now()")
            if self.failing:
                cur.execute("SELECT 1 / 0")

    pipelines: list[int] = []
    pipeline = InlineWriter._pipeline

    def counted(self: InlineWriter, *args: Any) -> Any:
        pipelines.append(1)
        return pipeline(self, *args)

    monkeypatch.setattr(InlineWriter, "_pipeline", counted)
    recorder: Any = rt.app.recorder
    schema, table = recorder.datastore.schema, recorder.events_table_name
    after = FailsAfterWriting()
    failing = InlineWriter([records, after], schema, table)

    def batch(email: str) -> tuple[list[Any], list[Any]]:
        events = Contact.create(ctx, {"email": email}, id=uuid4()).collect_events()
        return [rt.app.mapper.to_stored_event(e) for e in events], events

    with failing.connect(rt.settings.database_url) as conn:
        for prepared_before in (False, True):
            ctx = Context(uuid4(), Actor("test", "inline"), "inline")  # a tenant of its own
            stored, events = batch(f"all-or-nothing-{prepared_before}@example.com")
            before, moved = head(rt), positions(rt)
            used = len(pipelines)
            after.failing = True
            with pytest.raises(psycopg.errors.DivisionByZero):
                failing.write(conn, stored, events)
            assert len(pipelines) == used + prepared_before
            assert (head(rt), positions(rt)) == (before, moved)
            assert listed(rt, ctx.tenant_id) == {}
            after.failing = False
            failing.write(conn, *batch("next@example.com"))
            failing.write(conn, *batch("pipelined@example.com"))  # prepared by now
            assert len(pipelines) >= used + prepared_before + 1
        ids = InlineWriter([records], schema, table).write(conn, stored, events)
    # (The failed batch took a notification id: sequences are not rolled back.)
    [inserted] = ids
    assert inserted > before
    assert head(rt) == inserted
    assert positions(rt)["records"] == inserted
    assert listed(rt, ctx.tenant_id) == {
        "all-or-nothing-True@example.com": 1,
        "next@example.com": 1,
        "pipelined@example.com": 1,
    }


def test_a_batch_of_records_is_one_statement_that_gives_each_record_its_last_position(
    idle_runtime: Runtime,
) -> None:
    """A batch that only the records projection writes is one statement (the insert and
    the upsert together): each record's row takes the notification id of its last event
    in the batch, events of several records interleaved, and the writer answers the ids in
    the batch's order."""
    rt = idle_runtime
    records = rt.projection("records")
    recorder: Any = rt.app.recorder
    writer = InlineWriter([records], recorder.datastore.schema, recorder.events_table_name)
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    contacts = [Contact.create(ctx, {"email": f"p{i}@example.com"}, id=uuid4()) for i in range(3)]
    created = [c.collect_events() for c in contacts]
    contacts[0].update(ctx, {"name": "Ada"})
    contacts[1].update(ctx, {"name": "Grace"})
    updated = [c.collect_events() for c in contacts[:2]]
    contacts[0].update(ctx, {"name": "Ada L."})
    events = [e for group in created + updated for e in group] + contacts[0].collect_events()
    stored = [rt.app.mapper.to_stored_event(e) for e in events]
    with writer.connect(rt.settings.database_url) as conn:
        writer.write(conn, stored[:1], events[:1])  # the first batch prepares the statement
        ids = writer.write(conn, stored[1:], events[1:])
        joined = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE '%syncline_insert_records(%'"
        ).fetchone()
    with rt.pool.connection() as conn:
        by_event = dict(
            conn.execute(
                "SELECT (originator_id, originator_version)::text, notification_id"
                " FROM syncline_events WHERE originator_id = ANY(%s)",
                ([c.id for c in contacts],),
            ).fetchall()
        )
        rows = conn.execute(
            "SELECT id, version, position FROM records WHERE id = ANY(%s)",
            ([c.id for c in contacts],),
        ).fetchall()
    assert joined == (1,)
    assert ids == [by_event[f"({e.originator_id},{e.originator_version})"] for e in events[1:]]
    assert ids == sorted(ids)
    last = {c.id: (c.version, by_event[f"({c.id},{c.version})"]) for c in contacts}
    assert {row[0]: (row[1], row[2]) for row in rows} == last
    assert [c.version for c in contacts] == [3, 2, 1]


def test_a_record_placed_outside_its_batch_fails_the_call_and_writes_nothing(
    idle_runtime: Runtime,
) -> None:
    """`syncline_insert_records()` refuses a row whose place is not one of the batch's
    events (it would take another event's position, or none)."""
    rt = idle_runtime
    records = rt.projection("records")
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")
    events = Contact.create(ctx, {"email": "misplaced@example.com"}, id=uuid4()).collect_events()
    stored = [rt.app.mapper.to_stored_event(e) for e in events]
    prepared = records.prepare([(-2, e) for e in events])  # a batch of one has only -1
    recorder: Any = rt.app.recorder
    writer = InlineWriter([records], recorder.datastore.schema, recorder.events_table_name)
    statement, parameters, _ = writer._insert(stored, [(records, prepared)])
    before = head(rt)
    refused = pytest.raises(psycopg.errors.InternalError_, match="not one of the batch's 1")
    with writer.connect(rt.settings.database_url) as conn, refused:
        conn.execute(statement, parameters)
    assert head(rt) == before
    assert listed(rt, ctx.tenant_id) == {}


def test_the_batch_statements_are_planned_once_per_connection(idle_runtime: Runtime) -> None:
    """The flusher's call for a batch of records is prepared by its first batch and runs
    with its generic plan from then on: a batch that conflicts, first or later, leaves
    every later batch working and nothing planned again."""
    rt = idle_runtime
    records = rt.projection("records")
    recorder: Any = rt.app.recorder
    writer = InlineWriter([records], recorder.datastore.schema, recorder.events_table_name)
    ctx = Context(uuid4(), Actor("test", "inline"), "inline")

    def batch(email: str) -> tuple[list[Any], list[Any]]:
        events = Contact.create(ctx, {"email": email}, id=uuid4()).collect_events()
        return [rt.app.mapper.to_stored_event(e) for e in events], events

    with writer.connect(rt.settings.database_url) as conn:
        first = batch("first@example.com")
        writer.write(conn, *first)
        with pytest.raises(psycopg.IntegrityError):
            writer.write(conn, *first)  # the first batch again: its version conflicts
        for i in range(8):
            with pytest.raises(psycopg.IntegrityError):
                writer.write(conn, *first)  # a call that fails at its insert
            writer.write(conn, *batch(f"n{i}@example.com"))
        plans = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%syncline_insert_records(%'"
        ).fetchall()
    assert len(listed(rt, ctx.tenant_id)) == 9
    assert plans
    assert all(custom == 0 for _, custom in plans)
    assert sum(generic for generic, _ in plans) >= 8
