"""ProjectionRunner: one leader at a time, standby takeover, exactly-once batches, rebuilds."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from domain.application import Syncline
from projections.leadership import ProjectionBusyError
from projections.log_reader import LogReader
from projections.runner import ProjectionRunner
from syncline.database import eventsourcing_env
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


def test_catch_up_in_batches_processes_each_event_once(
    runtime: Runtime, projection: SeenProjection
) -> None:
    head = append_contacts(runtime, 25)
    batches: list[int] = []
    runner = ProjectionRunner(
        runtime.app,
        runtime.pool,
        projection,
        batch_size=10,
        on_batch=lambda _, n, __: batches.append(n),
    )
    runner.ensure_tracking()
    runner.process_available()
    assert runner.position() == head
    assert seen_positions(runtime, projection) == log_positions(runtime)
    assert max(batches) == 10
    assert len(batches) >= 3
    assert runner.process_available() == 0


class PreparingSeen(SeenProjection):
    """SeenProjection in two stages: notes each batch it prepared, and in which thread; its
    first write waits (a while at most) for the second batch to be prepared meanwhile."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.prepared_in: list[str] = []
        self.prepared: list[list[int]] = []
        self.second_prepared = threading.Event()
        self.overlapped: bool | None = None  # whether batch 2 was prepared during write 1

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[int]:
        positions = [p for p, _ in events]
        self.prepared_in.append(threading.current_thread().name)
        self.prepared.append(positions)
        if len(self.prepared) == 2:
            self.second_prepared.set()
        return positions

    def write(self, cur: psycopg.Cursor[Any], prepared: list[int]) -> None:
        if self.overlapped is None:
            self.overlapped = self.second_prepared.wait(timeout=5)
        cur.executemany(f"INSERT INTO {self.table} VALUES (%s)", [(p,) for p in prepared])

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        raise AssertionError("a preparing projection is written through prepare() and write()")


def test_a_preparing_projection_prepares_the_next_batch_while_one_commits(
    runtime: Runtime, projection: SeenProjection
) -> None:
    preparing = PreparingSeen(projection.name)
    head = append_contacts(runtime, 35)
    runner = ProjectionRunner(runtime.app, runtime.pool, preparing, batch_size=10)
    runner.ensure_tracking()
    runner.process_available()
    assert runner.position() == head
    assert seen_positions(runtime, projection) == log_positions(runtime)
    assert [p for batch in preparing.prepared for p in batch] == log_positions(runtime)
    # Only the first batch is prepared by the caller; the rest in the read-ahead thread,
    # each while the batch before it is being written.
    assert preparing.overlapped
    assert len(preparing.prepared) == -(-len(log_positions(runtime)) // 10) >= 4
    assert preparing.prepared_in[0] == threading.current_thread().name
    assert all(name.startswith(projection.name) for name in preparing.prepared_in[1:])


def test_a_standby_takes_over_when_the_leaders_session_dies(
    runtime: Runtime, projection: SeenProjection
) -> None:
    options = {"poll_interval": 0.2, "standby_interval": 0.1}
    first = ProjectionRunner(runtime.app, runtime.pool, projection, **options)
    second = ProjectionRunner(runtime.app, runtime.pool, projection, **options)
    threads = [start(first)]
    try:
        assert first.is_leader.wait(10)
        threads.append(start(second))
        time.sleep(0.5)
        assert not second.is_leader.is_set(), "two leaders at once"
        head = append_contacts(runtime, 3)
        assert wait_until(lambda: first.position() >= head)

        with psycopg.connect(str(runtime.pool.conninfo), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (first.leader_pid,))
        killed = time.monotonic()
        assert second.is_leader.wait(5), "the standby did not take over"
        assert time.monotonic() - killed < 3
        head = append_contacts(runtime, 3)
        assert wait_until(lambda: second.position() >= head)
        assert seen_positions(runtime, projection) == log_positions(runtime)
        assert wait_until(lambda: not first.is_leader.is_set())

        second.stop()  # a clean stop hands over too
        assert wait_until(first.is_leader.is_set, timeout=5), "the old leader did not come back"
        head = append_contacts(runtime, 3)
        assert wait_until(lambda: first.position() >= head)
        assert seen_positions(runtime, projection) == log_positions(runtime)
    finally:
        stop_all([first, second], threads)


def test_a_rebuild_is_refused_while_a_worker_leads(
    runtime: Runtime, projection: SeenProjection
) -> None:
    leader = ProjectionRunner(runtime.app, runtime.pool, projection, poll_interval=0.2)
    thread = start(leader)
    try:
        assert leader.is_leader.wait(10)
        replay = ProjectionRunner(runtime.app, runtime.pool, projection)
        with pytest.raises(ProjectionBusyError, match=f"syncline {projection.name}"):
            replay.rebuild()
        assert leader.is_leader.is_set()
    finally:
        leader.stop()
        thread.join(timeout=10)


def test_a_rebuild_clears_and_replays_up_to_the_head(
    runtime: Runtime, projection: SeenProjection
) -> None:
    append_contacts(runtime, 5)
    runner = ProjectionRunner(runtime.app, runtime.pool, projection, batch_size=7)
    runner.ensure_tracking()
    runner.process_available()
    with runtime.pool.connection() as conn:  # damage the read model
        conn.execute(f"DELETE FROM {projection.table} WHERE position % 2 = 0")
    reported: list[tuple[int, int]] = []
    done = runner.rebuild(lambda n, total: reported.append((n, total)))
    positions = log_positions(runtime)
    assert seen_positions(runtime, projection) == positions
    assert done == len(positions)
    assert reported[0] == (0, len(positions))
    assert reported[-1] == (done, len(positions))


def test_the_log_reader_never_plans_a_read_from_the_statistics(runtime: Runtime) -> None:
    """Planned with the statistics, a read of a log PostgreSQL has not analyzed yet (a
    fresh import, a bulk backlog) reads and sorts the whole rest of the log for every batch.
    The reader asks for the generic plan, an index range scan, every time."""
    head = append_contacts(runtime, 10)
    env = eventsourcing_env(runtime.database_url, pool_size=1)
    app = Syncline(env={**env, "POSTGRES_MAX_OVERFLOW": "0", "CREATE_TABLE": "n"})
    try:
        reader = LogReader(app, capacity=0)
        for after in range(head - 10, head - 2):  # by default PostgreSQL plans the first
            assert reader.read(after, 2)  # five executions for their parameters' values
        datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.get_connection() as conn:  # the pool's one connection: the reader's
            plans = conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%%ORDER BY notification_id LIMIT%%'"
            ).fetchall()
    finally:
        app.close()
    assert [(row["generic_plans"], row["custom_plans"]) for row in plans] == [(8, 0)]


def test_the_log_reader_shares_full_batches_and_never_a_short_one(runtime: Runtime) -> None:
    head = append_contacts(runtime, 12)
    after = head - 12
    reader = LogReader(runtime.app, capacity=4)
    full = reader.read(after, 5)
    assert [p for p, _ in full] == list(range(after + 1, after + 6))
    assert reader.read(after, 5) is full  # shared, not read again
    assert reader.read(after, 5, stop=after + 3) == full[:3]  # a cached batch respects stop

    tail = reader.read(head - 2, 5)
    assert len(tail) == 2
    new_head = append_contacts(runtime, 1)
    assert [p for p, _ in reader.read(head - 2, 5)] == [head - 1, head, new_head]

    threads = [threading.Thread(target=reader.read, args=(after + 5, 5)) for _ in range(4)]
    reads = reader.read_count
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reader.read_count == reads + 1, "concurrent readers of one batch decode it once"


def test_a_leader_is_woken_by_notify_not_by_polling(
    runtime: Runtime, projection: SeenProjection
) -> None:
    """With a poll interval of a minute, only the event store's NOTIFY can bring a new
    event in within seconds."""
    first = append_contacts(runtime, 1)
    runner = ProjectionRunner(runtime.app, runtime.pool, projection, poll_interval=60)
    thread = start(runner)
    try:
        assert runner.is_leader.wait(10)
        assert wait_until(lambda: runner.position() >= first)
        time.sleep(0.5)  # asleep in its wait now
        head = append_contacts(runtime, 1)
        woken = time.monotonic()
        assert wait_until(lambda: runner.position() >= head, timeout=10)
        assert time.monotonic() - woken < 10
    finally:
        runner.stop()
        append_contacts(runtime, 1)  # a NOTIFY ends its wait, rather than the minute
        thread.join(timeout=70)


def test_an_inline_projection_catches_up_as_soon_as_it_wins_the_lead(
    runtime: Runtime, projection: SeenProjection
) -> None:
    """An inline projection ignores the event store's notifications (the group commit
    writes it with the events), so only winning its lock may wake it: behind after a
    restart or a rebuild, it must not sit out a poll interval first."""
    projection.inline = True
    head = append_contacts(runtime, 3)
    runner = ProjectionRunner(runtime.app, runtime.pool, projection, poll_interval=60)
    started = time.monotonic()
    thread = start(runner)
    try:
        assert wait_until(lambda: runner.position() >= head, timeout=10)
        assert time.monotonic() - started < 10
        assert seen_positions(runtime, projection) == [p for p in log_positions(runtime) if p > 0]
    finally:
        runner.stop()
        thread.join(timeout=70)
