"""Projection test kit: a projection that records what it is given, runners in threads,
and the log's positions to compare with."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

from domain.contact import Contact
from domain.context import Actor, Context
from projections.protocol import Projection
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime


class SeenProjection(Projection):
    """Records each event position it is given; a duplicate breaks the primary key."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.table = name
        # A test's own table (our product tables come from syncline/migrations/).
        self.schema = [f"CREATE TABLE IF NOT EXISTS {name} (position bigint PRIMARY KEY)"]

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        cur.executemany(f"INSERT INTO {self.table} VALUES (%s)", [(p,) for p, _ in events])

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(f"TRUNCATE {self.table}")


def start(runner: ProjectionRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def stop_all(runners: Sequence[ProjectionRunner], threads: Sequence[threading.Thread]) -> None:
    for runner in runners:
        runner.stop()
    for thread in threads:
        thread.join(timeout=10)


def append_contacts(runtime: Runtime, count: int) -> int:
    ctx = Context(uuid4(), Actor("system", "test"), "runner-test")
    contacts = [
        Contact.create(ctx, {"email": f"r{i}@example.com"}, id=uuid4()) for i in range(count)
    ]
    runtime.app.save(*contacts)
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def seen_positions(runtime: Runtime, projection: SeenProjection) -> list[int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute(f"SELECT position FROM {projection.table} ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def log_positions(runtime: Runtime) -> list[int]:
    recorder: Any = runtime.app.recorder
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    with runtime.pool.connection() as conn:
        query = sql.SQL("SELECT notification_id FROM {} ORDER BY 1").format(table)
        rows = conn.execute(query).fetchall()
    return [r[0] for r in rows]
