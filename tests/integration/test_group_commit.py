"""Group commit: many concurrent saves, one conflicting, each caller sees its own outcome."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from domain.contact import Contact
from domain.context import Actor, Context
from syncline.runtime import Runtime


def stale_copy(runtime: Runtime, ctx: Context, email: str) -> tuple[Contact, Contact]:
    """A new contact, and a copy of it renamed "second" after another copy renamed "first"
    was saved: saving the copy conflicts. Answers (the contact, the stale copy)."""
    contact, _ = runtime.app.create_record(Contact, ctx, {"email": email})
    stale = runtime.app.get_record(Contact, ctx, contact.id)
    fresh = runtime.app.get_record(Contact, ctx, contact.id)
    fresh.update(ctx, {"name": "first"})
    runtime.app.save(fresh)
    stale.update(ctx, {"name": "second"})
    return contact, stale


def test_concurrent_saves_all_land_in_log_order(runtime: Runtime) -> None:
    ctx = Context(uuid4(), Actor("test", "group-commit"), "gc")
    saved: list[Contact] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def save(i: int) -> None:
        try:
            contact, _ = runtime.app.create_record(Contact, ctx, {"email": f"g{i}@example.com"})
            with lock:
                saved.append(contact)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(saved) == 40
    for contact in saved:
        assert (
            runtime.app.get_record(Contact, ctx, contact.id).state["email"]
            == contact.state["email"]
        )


def test_a_conflicting_save_fails_alone(runtime: Runtime) -> None:
    ctx = Context(uuid4(), Actor("test", "group-commit"), "gc")
    contact, stale = stale_copy(runtime, ctx, "c@example.com")
    outcomes: dict[str, BaseException | None] = {}
    barrier = threading.Barrier(11)

    def other(i: int) -> None:
        barrier.wait()
        try:
            runtime.app.create_record(Contact, ctx, {"email": f"o{i}@example.com"})
            outcomes[f"other{i}"] = None
        except BaseException as exc:
            outcomes[f"other{i}"] = exc

    def conflicting() -> None:
        barrier.wait()
        try:
            runtime.app.save(stale)
            outcomes["conflict"] = None
        except BaseException as exc:
            outcomes["conflict"] = exc

    threads = [threading.Thread(target=other, args=(i,)) for i in range(10)]
    threads.append(threading.Thread(target=conflicting))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcomes.pop("conflict"), IntegrityError)
    assert all(v is None for v in outcomes.values()), outcomes
    assert runtime.app.get_record(Contact, ctx, contact.id).state["name"] == "first"


def test_conflicting_save_raises_integrity_error_when_alone(runtime: Runtime) -> None:
    ctx = Context(uuid4(), Actor("test", "group-commit"), "gc")
    _, stale = stale_copy(runtime, ctx, "d@example.com")
    with pytest.raises(IntegrityError):
        runtime.app.save(stale)


def test_async_saves_share_batches_with_thread_saves(runtime: Runtime) -> None:
    """save_async (the API's create path, on the event loop) and save (worker threads) feed
    the same flusher; every save lands and each caller gets its own answer."""
    ctx = Context(uuid4(), Actor("test", "group-commit"), "gc-async")
    assert runtime.app.saves_async

    async def create_many() -> list[Contact]:
        contacts = [
            runtime.app.new_record(Contact, ctx, {"email": f"a{i}@example.com"}) for i in range(40)
        ]
        await asyncio.gather(*(runtime.app.save_async(c) for c in contacts))
        return contacts

    threads = [
        threading.Thread(
            target=runtime.app.create_record, args=(Contact, ctx, {"email": f"t{i}@example.com"})
        )
        for i in range(10)
    ]
    for t in threads:
        t.start()
    contacts = asyncio.run(create_many())
    for t in threads:
        t.join()
    for contact in contacts:
        stored = runtime.app.get_record(Contact, ctx, contact.id)
        assert stored.state["email"] == contact.state["email"]
        assert stored.version == 1


def test_an_async_conflicting_save_fails_alone(runtime: Runtime) -> None:
    ctx = Context(uuid4(), Actor("test", "group-commit"), "gc-async")
    contact, stale = stale_copy(runtime, ctx, "e@example.com")
    others = [
        runtime.app.new_record(Contact, ctx, {"email": f"f{i}@example.com"}) for i in range(10)
    ]

    async def race() -> list[BaseException | None]:
        return await asyncio.gather(
            runtime.app.save_async(stale),
            *(runtime.app.save_async(o) for o in others),
            return_exceptions=True,
        )

    conflict, *rest = asyncio.run(race())
    assert isinstance(conflict, IntegrityError)
    assert rest == [None] * len(others)
    assert runtime.app.get_record(Contact, ctx, contact.id).state["name"] == "first"
    for other in others:
        assert runtime.app.get_record(Contact, ctx, other.id).version == 1
