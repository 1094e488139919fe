"""ChangeListener: one LISTEN session per process that wakes the tenant's long-polls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from projections.changes.projection import CHANGES_CHANNEL

log = logging.getLogger(__name__)
RECONNECT_DELAY = 1.0


class ChangeListener:
    """Fans `syncline_changes` notifications out to waiting requests, by tenant.

    Waiters register before they read the feed, so a change that commits between the read
    and the wait still wakes them. While the session is down (database restart) nobody is
    woken; waiters re-read the feed on their own every few seconds as a fallback.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

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
                conn: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name="syncline change listener"
                )
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGES_CHANNEL)))
                    # Changes may have committed while we were not listening.
                    self._wake_everyone()
                    async for notify in conn.notifies():
                        self.wake(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change listener disconnected; reconnecting", exc_info=True)
            await asyncio.sleep(RECONNECT_DELAY)
