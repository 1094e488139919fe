"""ChangeListener: the process's listening session gathers notifications under a stream,
yet a request that asks it to catch up sees everything that reached its socket, released as
soon as the listening task has read it."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from projections.changes import listener as listener_module
from projections.changes.listener import ChangeListener
from projections.connection import unread_input


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
    assert took < 1.0, "catch_up waited out its timeout instead of being released"
