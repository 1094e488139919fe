"""A projection that cannot process an event stops there, retries, and says so: its tracking
row and /metrics show since when it fails and why, until it gets through."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest

from projections.lag import measure_lag, register_projection_lag
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime
from tests.support.poll import wait_until
from tests.support.projections import (
    SeenProjection,
    append_contacts,
    log_positions,
    seen_positions,
    start,
    stop_all,
)


class Poisoned(SeenProjection):
    """Fails on every batch holding `poison`, until cured. With `poison_after` set, the
    first event after that position becomes the poison: set before the event is appended,
    the runner cannot get past the event before it is poisoned."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.poison: int | None = None
        self.poison_after: int | None = None

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        if self.poison is None and self.poison_after is not None:
            after = self.poison_after
            self.poison = next((position for position, _ in events if position > after), None)
        if any(position == self.poison for position, _ in events):
            raise ValueError(f"cannot project event {self.poison}")
        super().process(cur, events)


def failing(runtime: Runtime, name: str) -> tuple[Any, Any]:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT failing_since, last_error FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_failing_projection_is_visible_until_it_gets_through(
    runtime: Runtime, projection: SeenProjection
) -> None:
    poisoned = Poisoned(projection.name)
    runner = ProjectionRunner(runtime.app, runtime.pool, poisoned, poll_interval=0.2)
    runner.ensure_tracking()
    thread = start(runner)
    try:
        head = append_contacts(runtime, 3)
        assert wait_until(lambda: runner.position() >= head)
        assert failing(runtime, poisoned.name) == (None, None)

        poisoned.poison_after = head
        appended = append_contacts(runtime, 1)
        assert wait_until(lambda: failing(runtime, poisoned.name)[0] is not None)
        assert poisoned.poison == appended
        since, error = failing(runtime, poisoned.name)
        assert error == f"ValueError after position {head}: cannot project event {poisoned.poison}"
        assert runner.position() == head  # it stopped before the event, and nothing skipped
        time.sleep(1.5)  # it retries (after 1 s, then 2 s), and keeps the first failure's time
        assert failing(runtime, poisoned.name) == (since, error)
        (lag,) = [
            x for x in measure_lag(runtime.pool, runtime.app) if x.projection == poisoned.name
        ]
        assert lag.failing_seconds >= 1.0
        assert lag.events_behind >= 1
        registry = CollectorRegistry()
        register_projection_lag(runtime.pool, runtime.app, registry)
        metrics = generate_latest(registry).decode()
        line = f'syncline_projection_failing_seconds{{projection="{poisoned.name}"}} '
        assert float(metrics.split(line)[1].split()[0]) >= 1.0

        poisoned.poison_after = None
        poisoned.poison = None  # fixed (a new release, say): the retry gets through
        assert wait_until(lambda: runner.position() >= (log_positions(runtime) or [0])[-1])
        assert wait_until(lambda: failing(runtime, poisoned.name) == (None, None))
        reached = runner.position()
        assert seen_positions(runtime, poisoned) == [
            p for p in log_positions(runtime) if p <= reached
        ]
        (lag,) = [
            x for x in measure_lag(runtime.pool, runtime.app) if x.projection == poisoned.name
        ]
        assert lag.failing_seconds == 0.0
    finally:
        runner.stop()
        thread.join(timeout=10)


class AlwaysFailing(SeenProjection):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.attempts = 0

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        self.attempts += 1
        raise ValueError("never")


def test_retries_back_off(runtime: Runtime, projection: SeenProjection) -> None:
    failing_one = AlwaysFailing(projection.name)
    append_contacts(runtime, 1)
    runner = ProjectionRunner(runtime.app, runtime.pool, failing_one, retry_delay=0.1)
    thread = start(runner)
    try:
        time.sleep(2.0)
    finally:
        runner.stop()
        thread.join(timeout=10)
    # After 0.1, 0.2, 0.4, 0.8 s: about five attempts in two seconds, not twenty.
    assert 3 <= failing_one.attempts <= 7


def test_the_next_leader_clears_a_failure_it_gets_past(
    runtime: Runtime, projection: SeenProjection
) -> None:
    """A fix is deployed as new processes: the failing leader stops, a standby with the fix
    leads, gets through, and the record goes (the old runner's memory cannot clear it)."""
    old = Poisoned(projection.name)
    old.poison = append_contacts(runtime, 1)
    failing_runner = ProjectionRunner(runtime.app, runtime.pool, old, retry_delay=0.2)
    fixed_runner = ProjectionRunner(
        runtime.app, runtime.pool, SeenProjection(projection.name), standby_interval=0.1
    )
    failing_runner.ensure_tracking()
    threads = [start(failing_runner)]
    try:
        assert wait_until(lambda: failing(runtime, old.name)[0] is not None)
        threads.append(start(fixed_runner))
        time.sleep(0.5)
        assert not fixed_runner.is_leader.is_set()  # the failing leader keeps its lock
        failing_runner.stop()
        assert wait_until(lambda: fixed_runner.position() >= old.poison)
        assert failing(runtime, old.name) == (None, None)
    finally:
        stop_all([failing_runner, fixed_runner], threads)


def test_a_new_leader_clears_a_failure_recorded_at_the_head(
    runtime: Runtime, projection: SeenProjection
) -> None:
    """A failure with no batch after it (a transient one, at the head): whoever leads next
    gets through once, and clears it."""
    runner = ProjectionRunner(runtime.app, runtime.pool, projection, poll_interval=0.2)
    runner.ensure_tracking()
    runner.process_available()  # at the head
    with runtime.pool.connection() as conn:
        conn.execute(
            "UPDATE projection_tracking SET failing_since = now(), last_error = 'x'"
            " WHERE name = %s",
            (projection.name,),
        )
    thread = start(runner)
    try:
        assert wait_until(lambda: failing(runtime, projection.name) == (None, None))
    finally:
        runner.stop()
        thread.join(timeout=10)
