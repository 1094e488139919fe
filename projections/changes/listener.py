"""ChangeListener: one LISTEN session per process that wakes the tenant's long-polls.

The same session carries the process's other channels (`channels`: the API's
authentication cache listens for credential and tenant changes on it), so a process holds
one listening connection whatever it listens for.

It listens for changes (`syncline_changes`, one notification per committed batch of
writes, from every process) only while a long-poll of this process is waiting, and for
FOLLOW_LINGER after the last one: a process that serves no long-polls does not hear, read
and drop every commit of the deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import psycopg
from psycopg import sql

from projections.connection import unread_input
from projections.records.projection import CHANGES_CHANNEL

log = logging.getLogger(__name__)
RECONNECT_DELAY = 1.0
# How long a request waits, at most, for the listening task to read what has arrived.
CATCH_UP_TIMEOUT = 0.1
# After handling what it read, how long the listening task lets the next notifications
# gather before it reads again: under a stream of commits (while it follows changes, it
# hears every commit of every process) it reads once per gathering instead of once per
# notification. A request that must see what arrived (`catch_up`) cuts the gathering short.
GATHER = 0.002
LISTENER_NAME = f"syncline change listener {socket.gethostname()}:{os.getpid()}"
# After the last long-poll of the process ends, how long the session keeps listening for
# changes (a client long-polling in a loop is back within this).
FOLLOW_LINGER = 30.0
# How long a long-poll waits, at most, for the session to start listening for changes
# (while the session is down it does not wait: it re-reads the feed every FALLBACK_POLL).
FOLLOW_TIMEOUT = 2.0


class ChangeListener:
    """Fans `syncline_changes` notifications out to waiting requests, by tenant.

    Waiters register before they read the feed, so a change that commits between the read
    and the wait still wakes them. While the session is down (database restart) nobody is
    woken; waiters re-read the feed on their own every few seconds as a fallback.
    """

    def __init__(
        self,
        conninfo: str,
        channels: Mapping[str, Callable[[str], None]] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        on_session: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
    ) -> None:
        """`channels`: other channels to listen on, each with what to call per payload;
        `on_connection(True/False)` when the session comes up or goes down; `on_session`
        awaited with the session once it listens, before `on_connection(True)`."""
        self.conninfo = conninfo
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Callable[[str], None]] = {
            CHANGES_CHANNEL: self.wake,
            **(channels or {}),
        }
        self._on_connection = on_connection or (lambda connected: None)
        self._on_session = on_session
        self.connected = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._followers = 0  # long-polls that need changes heard
        self._following = False  # the session listens on CHANGES_CHANNEL
        self._unfollow: asyncio.TimerHandle | None = None
        # Set: the listening task should (UN)LISTEN to changes as `_followers` says.
        self._retune: asyncio.Future[None] | None = None
        self._retuned: list[asyncio.Future[None]] = []  # long-polls waiting for a LISTEN
        self._gathering: asyncio.Future[None] | None = None  # done: stop, read now
        # Requests waiting for the listening task to have read everything (`catch_up`),
        # each with the count of batches after which it has (see `catch_up`).
        self._catching_up: list[tuple[int, asyncio.Future[None]]] = []
        self._batches = 0  # notification batches handled
        # The listening task runs statements on the session: what arrives meanwhile waits
        # in psycopg, off the socket, until the task reads again.
        self._statements = False

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="change-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def waiter(self, tenant_id: str) -> Iterator[asyncio.Event]:
        """An event set when the tenant's feed may have grown (register, then read)."""
        event = asyncio.Event()
        waiters = self._waiters.setdefault(tenant_id, set())
        waiters.add(event)
        try:
            yield event
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(tenant_id, None)

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Around a long-poll: the session listens for changes from when this is entered
        (the feed is read after that, so no change can fall between the read and the
        listening) until FOLLOW_LINGER after the last long-poll has left."""
        self._followers += 1
        if self._unfollow is not None:
            self._unfollow.cancel()
            self._unfollow = None
        try:
            # While the session runs statements an UNLISTEN may be on its way: wait too.
            if (self._statements or not self._following) and self._conn is not None:
                await self._retune_now()
            yield
        finally:
            self._followers -= 1
            if self._followers == 0:
                loop = asyncio.get_running_loop()
                self._unfollow = loop.call_later(FOLLOW_LINGER, self._stop_following)

    def _stop_following(self) -> None:
        self._unfollow = None
        if self._followers == 0 and self._retune is not None:
            _finish(self._retune)

    async def _retune_now(self) -> None:
        """Have the listening task LISTEN to changes, and wait until it has."""
        retuned = asyncio.get_running_loop().create_future()
        self._retuned.append(retuned)
        if self._retune is not None:
            _finish(self._retune)
        try:
            async with asyncio.timeout(FOLLOW_TIMEOUT):
                await retuned
        except TimeoutError:
            log.warning("the change listener did not start listening in time")
        finally:
            if retuned in self._retuned:
                self._retuned.remove(retuned)

    def wake(self, tenant_id: str) -> None:
        for event in self._waiters.get(tenant_id, ()):
            event.set()

    def _wake_everyone(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def _listen(self) -> None:
        while True:
            try:
                # Named, as every session of the process, with its host and pid.
                conn: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name=LISTENER_NAME[:63]
                )
                async with conn:
                    self._conn, self._statements = conn, True
                    for channel in self._handlers:
                        if channel != CHANGES_CHANNEL:
                            await conn.execute(_statement("LISTEN", channel))
                    if self._on_session is not None:
                        await self._on_session(conn)
                    await self._tune(conn)
                    self._connected(True)
                    # Changes may have committed while we were not listening.
                    self._wake_everyone()
                    while True:
                        await self._read_until_retuned(conn)
                        await self._tune(conn)
            except asyncio.CancelledError:
                self._connected(False)
                raise
            except Exception:
                log.warning("change listener disconnected; reconnecting", exc_info=True)
            self._connected(False)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _tune(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """LISTEN to changes while long-polls need them, UNLISTEN once none has for a
        while; then handle what arrived during the statements, and release the long-polls
        that waited for the LISTEN (and wake every waiter: one that gave up waiting for a
        late LISTEN has read the feed without it)."""
        self._statements = True
        # Again after each statement: a long-poll may have come or gone meanwhile.
        while (wanted := self._followers > 0 or self._unfollow is not None) != self._following:
            await conn.execute(_statement("LISTEN" if wanted else "UNLISTEN", CHANGES_CHANNEL))
            self._following = wanted
            if wanted:
                self._wake_everyone()
        # What psycopg kept aside while the statements ran, and what is on the socket now.
        async for notify in conn.notifies(timeout=0):
            self._handlers[notify.channel](notify.payload)
        self._statements = False
        if not unread_input(conn):
            self._caught_up()
        self._release_retuned()

    async def _read_until_retuned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Handle notifications until a long-poll needs changes heard (or none does any
        more): the reading task is then cancelled while it waits (between batches or in
        a gathering, never with a notification read and not handled) and the session is
        free for a LISTEN. A lost session raises."""
        self._retune = retune = asyncio.get_running_loop().create_future()
        reading = asyncio.create_task(self._read(conn))
        try:
            await asyncio.wait({reading, retune}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._retune = None
            if not reading.done():
                reading.cancel()
                try:
                    await reading
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # this task is being stopped, not only the reading
        if not reading.cancelled():
            reading.result()  # the session's error

    async def _read(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Read and handle notifications, a batch at a time: `stop_after=1` ends the
        generator once it has handed over everything one read brought, so nothing read
        waits unhandled while the task gathers or is cancelled."""
        while True:
            async for notify in conn.notifies(stop_after=1):
                self._handlers[notify.channel](notify.payload)
            self._batches += 1
            if not unread_input(conn):  # all that arrived is handled
                self._caught_up()
                await self._gather()
            else:
                self._caught_up(self._batches)

    async def _gather(self) -> None:
        loop = asyncio.get_running_loop()
        self._gathering = gathering = loop.create_future()
        timer = loop.call_later(GATHER, _finish, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            self._gathering = None

    async def catch_up(self) -> None:
        """Let the listening task handle the notifications already received (on the loop's
        thread), before the caller acts.

        The listening task handles each notification on a later turn of the event loop; a
        request that must not act on stale state (a credential revoked a moment ago) awaits
        this first, so what reached the socket before the request did is handled before it.
        While the socket holds nothing unread this returns at once (one `poll()`); else it
        ends the listening task's gathering and waits until that task has handled what the
        socket held (at most CATCH_UP_TIMEOUT): the socket is empty after a batch, or two
        more batches have been handled (the second was read after this call, so it took
        whatever the first left). While the task runs statements on the session it waits
        too: what arrives then is kept aside by psycopg, off the socket. Under a stream of
        commits the socket often holds a change notification: one wait on a future then,
        where polling on every turn of the loop cost each request several turns and polls.
        It never reads the socket itself: libpq closes a socket when it reads the end of a
        session (a terminated backend), and the listening task's reader is registered with
        the event loop on it; a socket closed under a registered reader made uvloop abort
        the process.
        """
        conn = self._conn
        if conn is None or conn.closed or not (self._statements or unread_input(conn)):
            return
        caught_up = asyncio.get_running_loop().create_future()
        self._catching_up.append((self._batches + 2, caught_up))
        if self._gathering is not None:
            _finish(self._gathering)  # the listening task is gathering: read now
        try:
            async with asyncio.timeout(CATCH_UP_TIMEOUT):
                await caught_up
        except TimeoutError:
            pass
        finally:
            self._catching_up = [w for w in self._catching_up if w[1] is not caught_up]

    def _caught_up(self, batches: int | None = None) -> None:
        """Release `catch_up`'s waiters: all of them (everything the socket held is
        handled, or the session is gone), or those `batches` handled batches satisfy."""
        waiting = self._catching_up
        if batches is None:
            released, self._catching_up = waiting, []
        else:
            released = [w for w in waiting if w[0] <= batches]
            self._catching_up = [w for w in waiting if w[0] > batches]
        for _, caught_up in released:
            _finish(caught_up)

    def _release_retuned(self) -> None:
        """Release the long-polls waiting for the session to listen for changes."""
        waiting, self._retuned = self._retuned, []
        for retuned in waiting:
            _finish(retuned)

    def _connected(self, connected: bool) -> None:
        if not connected:
            self._conn = None
            self._following = self._statements = False
            self._caught_up()
            self._release_retuned()  # long-polls re-read the feed on their own
        if connected != self.connected:
            self.connected = connected
            self._on_connection(connected)


def _statement(verb: str, channel: str) -> sql.Composed:
    """`LISTEN` or `UNLISTEN` of a channel."""
    return sql.SQL(verb + " {}").format(sql.Identifier(channel))


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
