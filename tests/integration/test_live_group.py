"""LiveGroup and the shared leader session: a process's projections at the head commit each
batch together in one transaction, under one session holding all their locks; a failing
projection leaves the group and the others go on."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from projections import leadership as leadership_module
from projections.leadership import Leadership
from projections.live import LiveGroup
from projections.log_reader import LogReader
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


class TxSeen(SeenProjection):
    """Records each position with the id of the transaction that wrote it; fails on the
    first event after `poison_after` while that is set (set before the event is appended,
    so no batch gets past it before it is poisoned)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.schema = [
            f"CREATE TABLE IF NOT EXISTS {name} (position bigint PRIMARY KEY, tx bigint NOT NULL)"
        ]
        self.poison_after: int | None = None

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        after = self.poison_after
        if after is not None and any(position > after for position, _ in events):
            raise ValueError(f"cannot project the event after {after}")
        cur.executemany(
            f"INSERT INTO {self.table} VALUES (%s, txid_current())", [(p,) for p, _ in events]
        )


def transactions(runtime: Runtime, projection: TxSeen, after: int) -> dict[int, int]:
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            f"SELECT position, tx FROM {projection.table} WHERE position > %s", (after,)
        ).fetchall()
    return dict(rows)


def failing_since(runtime: Runtime, name: str) -> Any:
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT failing_since FROM projection_tracking WHERE name = %s", (name,)
        ).fetchone()
    return row[0] if row else None


class Group:
    """Runners of TxSeen projections sharing one Leadership and one LiveGroup."""

    def __init__(
        self,
        runtime: Runtime,
        count: int,
        batch_size: int = 1000,
        *,
        later: int = 0,
        by_rank: bool = True,
        later_linger: float = 0.1,
    ) -> None:
        label = f"test leader {secrets.token_hex(3)}"
        self.runtime = runtime
        self.projections = [TxSeen(f"live_{secrets.token_hex(4)}") for _ in range(count)]
        for projection in self.projections[count - later :]:
            projection.catches_up_later = True
        with runtime.pool.connection() as conn:
            for projection in self.projections:
                for statement in projection.schema:
                    conn.execute(statement)
        self.leadership = Leadership(
            str(runtime.pool.conninfo),
            runtime.app.recorder.channel_name,  # type: ignore[attr-defined]
            label=label,
        )
        self.label = label
        reader = LogReader(runtime.app)
        self.group = LiveGroup(
            reader,
            runtime.pool,
            batch_size=batch_size,
            poll_interval=0.2,
            by_rank=by_rank,
            later_linger=later_linger,
        )
        self.runners = [
            ProjectionRunner(
                runtime.app,
                runtime.pool,
                projection,
                batch_size=batch_size,
                reader=reader,
                leadership=self.leadership,
                group=self.group,
                poll_interval=0.2,
                retry_delay=0.1,
            )
            for projection in self.projections
        ]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for runner in self.runners:
            runner.ensure_tracking()
            self.threads.append(start(runner))

    def all_live(self) -> bool:
        return self.group.members() == sorted(p.name for p in self.projections)

    def stop(self) -> None:
        stop_all(self.runners, self.threads)
        with self.runtime.pool.connection() as conn:
            for projection in self.projections:
                conn.execute(f"DROP TABLE {projection.table}")
                conn.execute("DELETE FROM projection_tracking WHERE name = %s", (projection.name,))


@pytest.fixture
def group(runtime: Runtime) -> Iterator[Group]:
    made = Group(runtime, 3, later=1, by_rank=False)
    yield made
    made.stop()


def test_by_rank_the_feed_and_webhooks_commit_apart_from_the_later_read_models(
    runtime: Runtime,
) -> None:
    made = Group(runtime, 3, later=1)
    try:
        made.start()
        assert wait_until(made.all_live, timeout=10)
        before = runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
        head = append_contacts(runtime, 20)
        assert wait_until(lambda: all(r.position() >= head for r in made.runners), timeout=10)
        first, second, later = (transactions(runtime, p, before) for p in made.projections)
        assert len(first) == 20
        assert first == second  # the first rank: one transaction together
        assert len(set(first.values())) == 1
        assert len(set(later.values())) == 1  # the later rank: one of its own
        assert set(later.values()) != set(first.values())
    finally:
        made.stop()


def test_the_later_rank_writes_many_of_the_first_ranks_batches_at_once(
    runtime: Runtime,
) -> None:
    """Events arriving one by one: the first rank commits each as it comes; the later rank
    writes them together once `later_linger` has passed, and reaches the head then, with
    no further event to wake it. Each event is read from the log once."""
    made = Group(runtime, 2, later=1, later_linger=1.0)
    try:
        made.start()
        assert wait_until(made.all_live, timeout=10)
        before = runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
        reader = made.group.reader
        read_on, decoded = reader.read_on, []

        def counting_read_on(*args: Any, **kwargs: Any) -> Any:
            batch = read_on(*args, **kwargs)
            decoded.extend(position for position, _ in batch)
            return batch

        reader.read_on = counting_read_on  # type: ignore[method-assign]
        first_runner, later_runner = made.runners
        head = before
        for _ in range(5):
            head = append_contacts(runtime, 1)
            assert wait_until(lambda at=head: first_runner.position() >= at, timeout=5)
        first, later = (transactions(runtime, p, before) for p in made.projections)
        assert len(first) == 5
        assert len(set(first.values())) == 5  # one commit per event
        assert later == {}, "the later rank waits for its linger"
        assert wait_until(lambda: later_runner.position() >= head, timeout=5)
        later = transactions(runtime, made.projections[1], before)
        assert sorted(later) == sorted(first)
        assert len(set(later.values())) == 1  # all five in one transaction
        assert sorted(decoded) == sorted(first)  # each event read and decoded once
    finally:
        made.stop()


def test_live_batches_of_every_projection_commit_in_one_transaction(
    runtime: Runtime, group: Group
) -> None:
    before = append_contacts(runtime, 5)  # a small backlog first: caught up one by one
    group.start()
    assert wait_until(group.all_live, timeout=10)
    assert all(runner.position() >= before for runner in group.runners)

    batches = group.group.batches
    head = append_contacts(runtime, 40)  # one save: 40 events committed at once
    assert wait_until(lambda: all(r.position() >= head for r in group.runners), timeout=10)
    written = [transactions(runtime, p, before) for p in group.projections]
    assert all(sorted(w) == [p for p in log_positions(runtime) if p > before] for w in written)
    # One transaction wrote the 40 events of the save for all three projections.
    assert len({tx for w in written for tx in w.values()}) == 1
    assert group.group.batches == batches + 1
    with runtime.pool.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT xmin::text FROM projection_tracking WHERE name = ANY(%s)",
            ([p.name for p in group.projections],),
        ).fetchall()
    assert len(rows) == 1, "the tracking rows moved in one transaction too"

    # Many small saves: batches follow the arrival, each still one transaction for all.
    for _ in range(10):
        append_contacts(runtime, 1)
    head = runtime.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    assert wait_until(lambda: all(r.position() >= head for r in group.runners), timeout=10)
    later = [transactions(runtime, p, before) for p in group.projections]
    assert later[0] == later[1] == later[2]


def test_one_shared_leader_session_holds_every_lock_and_comes_back_when_killed(
    runtime: Runtime, group: Group, database_url: str
) -> None:
    group.start()
    assert wait_until(lambda: all(r.is_leader.is_set() for r in group.runners), timeout=10)
    pids = {runner.leader_pid for runner in group.runners}
    assert len(pids) == 1
    assert None not in pids
    with psycopg.connect(database_url, autocommit=True) as conn:
        named = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"syncline {group.label} %",),
        ).fetchall()
        assert [row[0] for row in named] == list(pids)
        conn.execute("SELECT pg_terminate_backend(%s)", (pids.pop(),))
    assert wait_until(
        lambda: (
            len({r.leader_pid for r in group.runners} - {None} - {named[0][0]}) == 1
            and all(r.is_leader.is_set() for r in group.runners)
        ),
        timeout=5,  # the recovery target: every projection moving again within 5 s
        interval=0.01,
    ), "the locks were not taken again on a new session"
    head = append_contacts(runtime, 3)
    assert wait_until(lambda: all(r.position() >= head for r in group.runners), timeout=5)


def test_a_failing_projection_leaves_the_group_and_the_others_go_on(
    runtime: Runtime, group: Group
) -> None:
    group.start()
    assert wait_until(group.all_live, timeout=10)
    sick, *healthy = group.projections
    sick.poison_after = runtime.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    poison = append_contacts(runtime, 1)
    head = append_contacts(runtime, 2)
    # The others got past the poison, together; the sick one says it is failing.
    healthy_runners = [r for r in group.runners if r.projection is not sick]
    assert wait_until(lambda: all(r.position() >= head for r in healthy_runners), timeout=10)
    assert wait_until(lambda: failing_since(runtime, sick.name) is not None, timeout=10)
    assert group.group.split >= 1
    assert group.runners[0].position() < poison
    # The batch holding the poison was retried one by one; the next is theirs together.
    after = append_contacts(runtime, 2)
    assert wait_until(lambda: all(r.position() >= after for r in healthy_runners), timeout=10)
    together = [transactions(runtime, p, head) for p in healthy]
    assert together[0] == together[1]
    assert len(together[0]) == 2
    head = after

    sick.poison_after = None  # cured: it catches up on its own and comes back to the group
    assert wait_until(lambda: group.runners[0].position() >= head, timeout=10)
    assert wait_until(group.all_live, timeout=10)
    assert failing_since(runtime, sick.name) is None
    assert list(seen_positions(runtime, sick)) == log_positions(runtime)


def test_a_backlog_hands_the_projections_back_to_catch_up_and_they_return(
    runtime: Runtime,
) -> None:
    made = Group(runtime, 2, batch_size=10)
    try:
        made.start()
        assert wait_until(made.all_live, timeout=10)
        head = append_contacts(runtime, 35)  # more than a batch: a backlog
        assert wait_until(lambda: all(r.position() >= head for r in made.runners), timeout=10)
        assert wait_until(made.all_live, timeout=10)
        for projection in made.projections:
            assert seen_positions(runtime, projection) == log_positions(runtime)
    finally:
        made.stop()


def test_a_stream_of_notifications_never_keeps_the_session_from_its_locks(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session gathers notifications before relaying them; under a steady stream it
    must still let go of a seat's lock and take a new seat's at once. (A gathering of
    50 ms here, so that the stream never pauses for as long.)"""
    monkeypatch.setattr(leadership_module, "GATHER", 0.05)
    channel = runtime.app.recorder.channel_name  # type: ignore[attr-defined]
    leadership = Leadership(str(runtime.pool.conninfo), channel, label="stream test")
    woken = threading.Event()
    first = leadership.seat(f"stream_{secrets.token_hex(4)}", woken.set)
    streaming = threading.Event()

    def stream() -> None:
        with psycopg.connect(str(runtime.pool.conninfo), autocommit=True) as conn:
            while not streaming.is_set():
                conn.execute("SELECT pg_notify(%s, '')", (channel,))
                time.sleep(0.005)

    sender = threading.Thread(target=stream, daemon=True)
    try:
        assert first.leading.wait(10)
        sender.start()
        assert woken.wait(5)
        second = leadership.seat(f"stream_{secrets.token_hex(4)}", lambda: None)
        assert second.leading.wait(2), "a new seat waited for the stream to stop"
        started = time.monotonic()
        leadership.leave(first)
        assert time.monotonic() - started < 2, "letting go waited for the stream to stop"
        leadership.leave(second)
    finally:
        streaming.set()
        sender.join(timeout=10)
        leadership.stop()
