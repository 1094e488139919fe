"""ProjectionRunner: follows the event log in batches, one leader per projection."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

TRACKING_SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS projection_tracking (
        name text PRIMARY KEY,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]
# Projections announce each committed batch here (payload: "name:position").
PROJECTION_CHANNEL = "syncline_projection"


class Projection(Protocol):
    """Turns events into rows. `process` runs inside the batch's transaction."""

    name: str
    schema: list[str]

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None: ...

    def clear(self, cur: psycopg.Cursor[Any]) -> None: ...


def advisory_key(name: str) -> int:
    return zlib.crc32(f"projection:{name}".encode())


def read_position(pool: ConnectionPool, name: str) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


class ProjectionRunner:
    """Runs one projection: batches of events, each batch one transaction with its position.

    Leadership is a session advisory lock, so any number of workers may run the same
    projection: one processes, the others wait and take over when its connection drops.
    """

    def __init__(
        self,
        app: Application[Any],
        pool: ConnectionPool,
        projection: Projection,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        on_batch: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.app = app
        self.pool = pool
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self._stop = threading.Event()
        self.is_leader = threading.Event()

    @property
    def name(self) -> str:
        return self.projection.name

    def ensure_tracking(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO projection_tracking (name) VALUES (%s) ON CONFLICT DO NOTHING",
                (self.name,),
            )

    def position(self) -> int:
        return read_position(self.pool, self.name)

    def process_available(self, limit: int | None = None) -> int:
        """Process what the log holds now (at most `limit` events); answer how many.

        Only the leader may call this, or a caller that knows no runner is active.
        """
        done = 0
        while not self._stop.is_set() and (limit is None or done < limit):
            count = self._process_batch()
            if count == 0:
                break
            done += count
        return done

    def _process_batch(self) -> int:
        position = self.position()
        notifications = self.app.recorder.select_notifications(  # type: ignore[attr-defined]
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        events = [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]
        last = notifications[-1].id
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            self.projection.process(cur, events)
            cur.execute(
                "UPDATE projection_tracking SET position = %s, updated_at = now() "
                "WHERE name = %s AND position = %s",
                (last, self.name, position),
            )
            if cur.rowcount != 1:
                # Someone else moved the position: we are not (or no longer) the leader.
                raise RuntimeError(f"projection {self.name} moved under us at {position}")
            cur.execute("SELECT pg_notify(%s, %s)", (PROJECTION_CHANNEL, f"{self.name}:{last}"))
        if self.on_batch is not None:
            self.on_batch(self.name, len(events), last)
        return len(events)

    def run(self) -> None:
        """Lead when possible, process as events arrive, until `stop()`."""
        self.ensure_tracking()
        while not self._stop.is_set():
            try:
                self._lead()
            except Exception:
                log.exception("projection runner failed; retrying", extra={"projection": self.name})
                self._stop.wait(1.0)

    def _lead(self) -> None:
        key = advisory_key(self.name)
        with psycopg.connect(str(self.pool.conninfo), autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                self._stop.wait(self.poll_interval)
            else:
                return
            self.is_leader.set()
            log.info("projection leader", extra={"projection": self.name})
            try:
                channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
                conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
                while not self._stop.is_set():
                    self.process_available()
                    # Wake on NOTIFY from the event store, or poll as a fallback.
                    for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
            finally:
                self.is_leader.clear()

    def stop(self) -> None:
        self._stop.set()

    def wait_until(self, position: int, timeout: float = 30.0) -> bool:
        """Block until this projection's position reaches `position` (tests, CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.position() >= position:
                return True
            time.sleep(0.01)
        return False
