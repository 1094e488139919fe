"""ChangeListener: the process's listening session gathers notifications under a stream,
yet a request that asks it to catch up sees everything that reached its socket, released as
soon as the listening task has read it; and it hears changes only while a long-poll
follows them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from projections.changes import listener as listener_module
from projections.changes.listener import ChangeListener
from projections.connection import unread_input
from projections.records.projection import CHANGES_CHANNEL


async def _scenario(database_url: str) -> tuple[list[str], float]:
    heard: list[str] = []
    listener = ChangeListener(database_url, channels={"listener_test": heard.append})
    await listener.start()
    try:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for _ in range(100):  # until the session listens
                await conn.execute("SELECT pg_notify('listener_test', 'first')")
                await asyncio.sleep(0.05)
                if heard:
                    break
            assert heard, "the listener never heard the first notification"
            await asyncio.sleep(0.05)  # it is gathering now (a second, here)
            await conn.execute("SELECT pg_notify('listener_test', 'second')")
            deadline = time.monotonic() + 5
            while not (listener._conn and unread_input(listener._conn)):
                assert time.monotonic() < deadline, "the notification never arrived"
                await asyncio.sleep(0.001)
            started = time.monotonic()
            await listener.catch_up()
            return heard[:], time.monotonic() - started
    finally:
        await listener.stop()


def test_catch_up_cuts_a_gathering_short(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener_module, "GATHER", 1.0)
    # Long enough that a catch_up the listening task never released would show.
    monkeypatch.setattr(listener_module, "CATCH_UP_TIMEOUT", 5.0)
    heard, took = asyncio.run(_scenario(database_url))
    assert "second" in heard, "catch_up returned before the listener read what had arrived"
    assert took < 0.3, "catch_up waited out the gathering or its timeout instead of being released"


async def _heard_after(
    conn: psycopg.AsyncConnection[Any], heard: list[str], woken: asyncio.Event, marker: str
) -> bool:
    """Notify a change of tenant "t1", then the test channel's `marker` as a barrier: once
    the marker is heard, the change was read before it, so `woken` says whether the
    session was listening for changes."""
    await conn.execute(f"SELECT pg_notify('{CHANGES_CHANNEL}', 't1')")
    await conn.execute("SELECT pg_notify('listener_test', %s)", (marker,))
    deadline = time.monotonic() + 5
    while marker not in heard:
        assert time.monotonic() < deadline, f"the barrier {marker} was never heard"
        await asyncio.sleep(0.005)
    return woken.is_set()


async def _following_scenario(database_url: str) -> list[bool]:
    heard: list[str] = []
    listener = ChangeListener(database_url, channels={"listener_test": heard.append})
    await listener.start()
    seen: list[bool] = []
    try:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 5
            while not listener.connected:
                assert time.monotonic() < deadline, "the listener never connected"
                await asyncio.sleep(0.01)
            with listener.waiter("t1") as woken:  # a plain read of the feed: no long-poll
                seen.append(await _heard_after(conn, heard, woken, "before"))
            async with listener.following():
                with listener.waiter("t1") as woken:
                    seen.append(await _heard_after(conn, heard, woken, "during"))
            with listener.waiter("t1") as woken:  # within the linger: still listening
                seen.append(await _heard_after(conn, heard, woken, "lingering"))
            await asyncio.sleep(listener_module.FOLLOW_LINGER + 0.2)
            with listener.waiter("t1") as woken:
                seen.append(await _heard_after(conn, heard, woken, "after"))
    finally:
        await listener.stop()
    return seen


def test_changes_are_heard_only_while_a_long_poll_follows(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that serves no long-polls does not hear every commit: the session LISTENs
    to changes when a long-poll starts following (before it reads the feed) and UNLISTENs
    FOLLOW_LINGER after the last one has left."""
    monkeypatch.setattr(listener_module, "FOLLOW_LINGER", 0.3)
    assert asyncio.run(_following_scenario(database_url)) == [False, True, True, False]


async def _held_by_psycopg(database_url: str) -> tuple[bool, list[str], list[str]]:
    """A notification that reaches the session while it runs a statement of its own:
    psycopg reads it with the statement's answer and keeps it aside, off the socket. A
    `catch_up` meanwhile waits until the listening task has handled it.

    Answers (whether `catch_up` was still waiting while the statements ran, what had been
    heard then, what had been heard when it returned)."""
    heard: list[str] = []
    held, resume = asyncio.Event(), asyncio.Event()

    async def on_session(conn: psycopg.AsyncConnection[Any]) -> None:
        # The session notifies itself: the notification comes back with the NOTIFY's
        # own answer, so psycopg has read it before the statement returns.
        await conn.execute("NOTIFY listener_test, 'during'")
        held.set()
        await resume.wait()  # the session is still "running statements"

    listener = ChangeListener(
        database_url, channels={"listener_test": heard.append}, on_session=on_session
    )
    await listener.start()
    try:
        await asyncio.wait_for(held.wait(), 10)
        assert listener._conn is not None
        assert not unread_input(listener._conn), "it should be off the socket, kept by psycopg"
        catching_up = asyncio.create_task(listener.catch_up())
        await asyncio.sleep(0.3)
        waiting, heard_meanwhile = not catching_up.done(), heard[:]
        resume.set()
        await asyncio.wait_for(catching_up, 2)
        return waiting, heard_meanwhile, heard[:]
    finally:
        resume.set()
        await listener.stop()


def test_catch_up_waits_for_what_psycopg_kept_aside_during_statements(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that a catch_up that returned on its timeout would show.
    monkeypatch.setattr(listener_module, "CATCH_UP_TIMEOUT", 5.0)
    waiting, heard_meanwhile, heard = asyncio.run(_held_by_psycopg(database_url))
    assert waiting, "catch_up returned while the notification waited inside psycopg"
    assert heard_meanwhile == []
    assert heard == ["during"], "catch_up returned before the listening task handled it"
