"""A lost connection is not a failure: pools, projection runners and the delivery worker
replace a terminated session at once, without backoff and without recording a failure."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from projections.connection import connection_lost
from projections.leadership import lock_holder
from projections.runner import RECONNECT_DELAY, ProjectionRunner
from syncline.database import heard_from_server, open_pool
from syncline.runtime import Runtime
from tests.support.poll import wait_until
from tests.support.projections import (
    SeenProjection,
    append_contacts,
    log_positions,
    seen_positions,
    start,
)


def terminate(database_url: str, pids: Sequence[int]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))


def failing_since(runtime: Runtime, name: str) -> Any:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT failing_since FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return row[0] if row else None


def test_lost_connections_are_told_from_failures(runtime: Runtime, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as victim:
        terminate(database_url, [victim.info.backend_pid])
        with pytest.raises(psycopg.errors.AdminShutdown) as shutdown:
            victim.execute("SELECT 1")
        assert connection_lost(shutdown.value)
        with pytest.raises(psycopg.OperationalError) as closed:
            victim.execute("SELECT 1")
        assert connection_lost(closed.value)  # "the connection is closed"
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The work failed, not the session (a statement timeout is an OperationalError too).
        for statement, error in (
            ("SELECT 1/0", psycopg.errors.DivisionByZero),
            ("SET statement_timeout = 1; SELECT pg_sleep(1)", psycopg.errors.QueryCanceled),
        ):
            with pytest.raises(error) as failed:
                conn.execute(statement)
            assert not connection_lost(failed.value)
    wrapped = RuntimeError("the event store's translation")
    wrapped.__cause__ = psycopg.OperationalError("the connection is lost")
    assert connection_lost(wrapped)
    assert not connection_lost(ValueError("cannot project"))


def test_a_pool_whose_connections_all_died_answers_at_once(database_url: str) -> None:
    name = f"syncline_pool_{secrets.token_hex(4)}"
    url = make_conninfo(database_url, application_name=name)
    pool = open_pool(url, min_size=6, max_size=6, name=name)
    try:
        pool.wait(timeout=10)
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            ).fetchall()
        # Each backend has exited: every idle connection now holds a dead session.
        assert rows == [(True,)] * 6
        started = time.monotonic()
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # Checked one by one, psycopg_pool waits 1 s, 2 s, 4 s ... between dead connections.
        assert time.monotonic() - started < 0.9
    finally:
        pool.close()


def test_an_idle_connection_is_checked_once_its_server_has_spoken(database_url: str) -> None:
    """A pooled connection goes out unchecked (no round trip) while its server has said
    nothing to it; a terminated backend's word (and closed socket) is heard at once."""
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        psycopg.connect(database_url, autocommit=True) as admin,
    ):
        conn.execute("SELECT 1").fetchall()
        assert not heard_from_server(conn)
        time.sleep(0.2)
        assert not heard_from_server(conn)  # idle is not suspect
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        assert wait_until(lambda: heard_from_server(conn), timeout=5)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")


class Cut(SeenProjection):
    """Its pooled connection's backend is terminated in the middle of a batch, once."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.cut = False

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        if not self.cut:
            self.cut = True
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        super().process(cur, events)


def test_a_connection_lost_mid_batch_is_retried_at_once_and_not_recorded(
    runtime: Runtime, projection: SeenProjection, caplog: pytest.LogCaptureFixture
) -> None:
    cut = Cut(projection.name)
    runner = ProjectionRunner(runtime.app, runtime.pool, cut, poll_interval=0.2)
    runner.ensure_tracking()
    thread = start(runner)
    try:
        assert runner.is_leader.wait(10)
        leader = runner.leader_pid
        head = append_contacts(runtime, 3)
        started = time.monotonic()
        failures: list[Any] = []
        assert wait_until(
            lambda: failures.append(failing_since(runtime, cut.name)) or runner.position() >= head,
            10,
            interval=0.01,
        )
        assert cut.cut
        # Not a failure: nothing on record, no failure backoff (the first would be 1 s) but
        # the reconnect pause, and it kept its lead (the lock's session was not the one
        # terminated). The time is a bound for a loaded machine: about 0.2 s when idle.
        assert set(failures) == {None}
        [pause] = [r for r in caplog.records if r.getMessage().startswith("projection runner")]
        assert pause.getMessage() == "projection runner lost a connection; retrying"
        assert pause.retry_in_seconds == RECONNECT_DELAY  # type: ignore[attr-defined]
        assert time.monotonic() - started < 3
        assert runner.leader_pid == leader
        assert seen_positions(runtime, cut) == [p for p in log_positions(runtime) if p <= head]
    finally:
        runner.stop()
        thread.join(timeout=10)


def test_a_leader_whose_session_was_terminated_leads_again_at_once(
    runtime: Runtime, projection: SeenProjection, database_url: str
) -> None:
    # A standby would retry the lock only every 30 s: leading again must not wait for that.
    runner = ProjectionRunner(
        runtime.app, runtime.pool, projection, poll_interval=0.2, standby_interval=30
    )
    runner.ensure_tracking()
    thread = start(runner)
    try:
        assert runner.is_leader.wait(10)
        first = runner.leader_pid
        assert first is not None
        terminate(database_url, [first])
        started = time.monotonic()
        if not wait_until(lambda: runner.leader_pid not in (None, first), 5, interval=0.01):
            # Who holds the lock tells a slow reconnect from a terminated backend slow to exit.
            with psycopg.connect(database_url, autocommit=True) as conn:
                holder = lock_holder(conn, projection.name)
            pytest.fail(f"not leading again after 5 s; the lock was held by {holder}")
        assert time.monotonic() - started < 2
        head = append_contacts(runtime, 2)
        assert runner.wait_until(head, timeout=2)
        assert failing_since(runtime, projection.name) is None
    finally:
        runner.stop()
        thread.join(timeout=10)
