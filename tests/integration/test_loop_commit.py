"""Group commit on the API's event loop (syncline/loop_commit.py): saves made on the loop and
saves handed over from other threads share batches on one session, each caller sees its own
outcome, an inline projection behind is left to its runner, and a lost session is replaced."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import IntegrityError, OperationalError

from domain.contact import Contact
from domain.context import Actor, Context
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime


def context() -> Context:
    return Context(uuid4(), Actor("test", "loop-commit"), "loop")


def listed(runtime: Runtime, tenant_id: Any) -> dict[str, int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT data->>'email', version FROM records WHERE tenant_id = %s", (tenant_id,)
        ).fetchall()
    return dict(rows)


def records_position(runtime: Runtime) -> int:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = 'records'"
        ).fetchone()
    return int(row[0]) if row else 0


def head(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def run_bound(runtime: Runtime, work: Any) -> Any:
    """Run `work()` (a coroutine function) on a new loop with the committer bound to it."""
    recorder: Any = runtime.app.recorder

    async def main() -> Any:
        await recorder.bind_loop()
        try:
            return await work()
        finally:
            await recorder.unbind_loop()

    return asyncio.run(main())


def test_loop_and_thread_saves_share_one_session(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = context()
    recorder: Any = rt.app.recorder

    async def work() -> None:
        records = [
            rt.app.new_record(Contact, ctx, {"email": f"a{i}@example.com"}) for i in range(40)
        ]
        threads = [
            asyncio.to_thread(rt.app.create_record, Contact, ctx, {"email": f"t{i}@example.com"})
            for i in range(10)
        ]
        await asyncio.gather(*(rt.app.save_async(r) for r in records), *threads)

    run_bound(rt, work)
    expected = {f"a{i}@example.com": 1 for i in range(40)} | {
        f"t{i}@example.com": 1 for i in range(10)
    }
    assert listed(rt, ctx.tenant_id) == expected
    assert records_position(rt) == head(rt)
    # The thread saves were handed to the loop: the flusher thread never started.
    assert recorder._thread is None
    # Unbound, saves go through the flusher thread again.
    rt.app.create_record(Contact, ctx, {"email": "after@example.com"})
    assert recorder._thread is not None
    assert listed(rt, ctx.tenant_id)["after@example.com"] == 1


def test_a_conflicting_save_fails_alone(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = context()
    contact, _ = rt.app.create_record(Contact, ctx, {"email": "c@example.com"})
    stale = rt.app.get_record(Contact, ctx, contact.id)
    rt.app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "first"}))
    stale.update(ctx, {"name": "second"})

    async def work() -> list[Any]:
        others = [
            rt.app.new_record(Contact, ctx, {"email": f"o{i}@example.com"}) for i in range(10)
        ]
        return await asyncio.gather(
            *(rt.app.save_async(r) for r in others[:5]),
            rt.app.save_async(stale),  # in the same batch as the others
            *(rt.app.save_async(r) for r in others[5:]),
            return_exceptions=True,
        )

    outcomes = run_bound(rt, work)
    assert [type(o) for o in outcomes] == [type(None)] * 5 + [IntegrityError] + [type(None)] * 5
    emails = listed(rt, ctx.tenant_id)
    assert emails["c@example.com"] == 2  # the first update, not the stale one
    assert {f"o{i}@example.com" for i in range(10)} <= set(emails)


def test_a_projection_behind_is_left_to_its_runner(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = context()
    rt.app.create_record(Contact, ctx, {"email": "first@example.com"})
    with rt.pool.connection() as conn:  # as after a rebuild's reset
        conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'records'")
        conn.execute("TRUNCATE records")

    async def save(email: str) -> None:
        await rt.app.save_async(rt.app.new_record(Contact, ctx, {"email": email}))

    run_bound(rt, lambda: save("second@example.com"))
    assert listed(rt, ctx.tenant_id) == {}  # not written: the projection is behind
    runner = ProjectionRunner(rt.app, rt.pool, rt.projection("records"))
    assert runner.process_available() == 2
    run_bound(rt, lambda: save("third@example.com"))  # inline again
    assert listed(rt, ctx.tenant_id) == {
        "first@example.com": 1,
        "second@example.com": 1,
        "third@example.com": 1,
    }
    assert records_position(rt) == head(rt)


def test_a_lost_session_fails_its_batch_and_the_next_reconnects(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = context()

    async def work() -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        await rt.app.save_async(rt.app.new_record(Contact, ctx, {"email": "before@example.com"}))
        with rt.pool.connection() as conn:  # every other session of this database
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
            conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
            while conn.execute(  # gone, not just told to go
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone() != (0,):
                await asyncio.sleep(0.01)
        for i in range(3):
            try:
                await rt.app.save_async(
                    rt.app.new_record(Contact, ctx, {"email": f"after{i}@example.com"})
                )
                outcomes.append(None)
            except OperationalError as exc:
                outcomes.append(exc)
        return outcomes

    outcomes = run_bound(rt, work)
    # The batch on the dead session may fail (whether it committed is unknown); the next
    # one runs on a new session.
    assert all(isinstance(o, OperationalError) for o in outcomes[:1] if o is not None)
    assert outcomes[1:] == [None, None]
    assert {"after1@example.com", "after2@example.com"} <= set(listed(rt, ctx.tenant_id))


def test_unbinding_waits_for_the_saves_in_flight(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    ctx = context()
    recorder: Any = rt.app.recorder

    async def main() -> None:
        await recorder.bind_loop()
        records = [
            rt.app.new_record(Contact, ctx, {"email": f"u{i}@example.com"}) for i in range(30)
        ]
        saves = [asyncio.ensure_future(rt.app.save_async(r)) for r in records]
        await asyncio.sleep(0)  # the saves are queued
        await recorder.unbind_loop()
        assert all(s.done() and s.exception() is None for s in saves)

    asyncio.run(main())
    assert len(listed(rt, ctx.tenant_id)) == 30
