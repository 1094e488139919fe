"""Auth sync: an operator's credential or tenant change has reached every API process's
authentication cache before the call that made it returns.

The event-store insert bumps the auth epoch (`auth_epoch`) in the transaction that records
a credential or tenant change, and announces each change with its epoch on `syncline_auth`
(migration 0005). Each API process's listening session registers in `auth_listeners` and,
once its cache has dropped what an epoch changed, records that epoch there (`applied`).
The operator's call, after its change commits, waits (`settle`) until every live listening
session has recorded the epoch now current: from then on no process answers from a cache
entry older than the change, so a request that starts after the call returned is judged
on the change. A session that is gone (its process stopped, or its connection dropped) is
not waited for: its process dropped its cache and expires entries on time until it
listens again (`/readyz` says `auth_cache: timed`).

Requests pay nothing for this: the cost is on the operator's (rare) changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import psycopg
from anyio import to_thread
from psycopg_pool import ConnectionPool

if TYPE_CHECKING:
    from api.auth import Authenticator

log = logging.getLogger(__name__)

# The longest an operator's change waits for every API process to apply it. A process that
# has not applied it by then is stalled; it still handles what reached its listening
# session before it handles a request (BearerAuthMiddleware has it catch up first).
SETTLE_SECONDS = 2.0
SETTLE_POLL_SECONDS = 0.002
RECORD_ATTEMPTS = 3

CURRENT_EPOCH = "SELECT epoch FROM auth_epoch"
FORGET_GONE = """
DELETE FROM auth_listeners l WHERE l.pid <> pg_backend_pid() AND NOT EXISTS (
    SELECT FROM pg_stat_activity a WHERE a.pid = l.pid AND a.backend_start = l.backend_start
)"""
REGISTER = """
INSERT INTO auth_listeners (pid, backend_start, epoch)
SELECT a.pid, a.backend_start, %(epoch)s FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
ON CONFLICT (pid) DO UPDATE SET backend_start = EXCLUDED.backend_start, epoch = EXCLUDED.epoch
RETURNING pid, backend_start"""
APPLIED = """
UPDATE auth_listeners SET epoch = GREATEST(epoch, %(epoch)s)
WHERE pid = %(pid)s AND backend_start = %(backend_start)s"""
# The live listening sessions that have not yet applied `epoch`.
BEHIND = """
SELECT l.pid FROM auth_listeners l
JOIN pg_stat_activity a ON a.pid = l.pid AND a.backend_start = l.backend_start
WHERE l.epoch < %(epoch)s"""


class AuthSync:
    """One API process's side: its listening session's registration and what it has applied."""

    def __init__(self, pool: ConnectionPool, authenticator: Authenticator) -> None:
        self.pool = pool
        self.authenticator = authenticator
        self._session: dict[str, Any] | None = None  # pid and backend_start, once registered
        self._wanted = 0
        self._recorded = 0
        self._task: asyncio.Task[None] | None = None

    async def register(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """On the listening session, once it listens: every change after the epoch read
        here will be notified, so drop what is cached and record that epoch as applied."""
        row = await (await conn.execute(CURRENT_EPOCH)).fetchone()
        epoch = int(row[0]) if row else 0
        # Entries cached from now on were verified after `epoch`: drop the older ones
        # before the row below lets an operator's change stop waiting for this process.
        self.authenticator.listening(True)
        await conn.execute(FORGET_GONE)
        registered = await (await conn.execute(REGISTER, {"epoch": epoch})).fetchone()
        assert registered is not None
        self._session = {"pid": registered[0], "backend_start": registered[1]}
        self._recorded = epoch
        # A change handled meanwhile (a request had the session catch up) is newer: record it.
        self._wanted = max(self._wanted, epoch)
        self._start()

    def applied(self, epoch: int) -> None:
        """This process's cache has dropped what `epoch` changed (on the event loop's
        thread): record it, without holding up the caller."""
        if epoch > self._wanted:
            self._wanted = epoch
            self._start()

    def _start(self) -> None:
        if self._recorded < self._wanted and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._record())

    async def _record(self) -> None:
        failures = 0
        while self._session is not None and self._recorded < self._wanted:
            epoch, session = self._wanted, self._session
            try:
                await to_thread.run_sync(self._write, epoch, session)
            except Exception:
                # The next change tries again; a lost session registers anew. Meanwhile an
                # operator's call waits SETTLE_SECONDS for this process, then goes on.
                log.warning("could not record an applied auth epoch", exc_info=True)
                failures += 1
                if failures == RECORD_ATTEMPTS:
                    return
                await asyncio.sleep(0.05)
                continue
            if session is self._session:
                self._recorded = max(self._recorded, epoch)

    def _write(self, epoch: int, session: dict[str, Any]) -> None:
        with self.pool.connection() as conn:
            conn.execute(APPLIED, {"epoch": epoch, **session})


def settle(pool: ConnectionPool, *, timeout: float = SETTLE_SECONDS) -> bool:
    """Wait until every live API process has applied the credential and tenant changes
    committed so far; False (logged) if one had not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with pool.connection() as conn:
        row = conn.execute(CURRENT_EPOCH).fetchone()
    epoch = int(row[0]) if row else 0
    while True:
        # A connection per look, not one held while waiting: this process's own session
        # records what it applied through the same pool.
        with pool.connection() as conn:
            behind = conn.execute(BEHIND, {"epoch": epoch}).fetchall()
        if not behind:
            return True
        if time.monotonic() >= deadline:
            log.warning(
                "API processes had not applied a credential change within %.1f s",
                timeout,
                extra={"listener_pids": [r[0] for r in behind], "auth_epoch": epoch},
            )
            return False
        time.sleep(SETTLE_POLL_SECONDS)
