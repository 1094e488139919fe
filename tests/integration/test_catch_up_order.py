"""A worker's runners on a backlog: the first go first, and the log is decoded once."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
import pytest

from projections.log_reader import DEFAULT_BATCH, FRONTIER, LogReader
from projections.priority import CatchingUpElsewhere, CatchUpOrder
from projections.runner import ProjectionRunner
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.support.poll import wait_until
from tests.support.projections import (
    SeenProjection,
    append_contacts,
    log_positions,
    seen_positions,
    stop_all,
)


def head(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def batch_size(runtime: Runtime) -> int:
    """About eight batches for the whole log (the suite's log grows as tests run)."""
    return max(20, len(log_positions(runtime)) // 8)


class Feed(SeenProjection):
    """Goes first; slow per batch, long enough to be seen catching up (and, without an
    order, for a later projection to start and write while it is)."""

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        time.sleep(0.2)
        super().process(cur, events)


class Later(SeenProjection):
    """Catches up later; notes how far `feed` was when each of its batches was written."""

    catches_up_later = True

    def __init__(self, name: str, feed: ProjectionRunner) -> None:
        super().__init__(name)
        self.feed = feed
        self.feed_positions: list[int] = []

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        self.feed_positions.append(self.feed.position())
        super().process(cur, events)


@pytest.fixture
def names(runtime: Runtime) -> Iterator[list[str]]:
    """Three fresh projection names (their tables are made by `made`)."""
    chosen = [f"order_{secrets.token_hex(4)}" for _ in range(3)]
    yield chosen
    with runtime.pool.connection() as conn:
        for name in chosen:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute("DELETE FROM projection_tracking WHERE name = ANY(%s)", (chosen,))


def made(runtime: Runtime, projection: SeenProjection) -> SeenProjection:
    with runtime.pool.connection() as conn:
        for statement in projection.schema:
            conn.execute(statement)
    return projection


def run_all(*runners: ProjectionRunner) -> list[threading.Thread]:
    threads = []
    for runner in runners:
        runner.ensure_tracking()
        threads.append(threading.Thread(target=runner.run, daemon=True))
        threads[-1].start()
    return threads


def later_behind_feed(
    runtime: Runtime,
    names: list[str],
    order: CatchUpOrder,
    later_order: Callable[[int], CatchUpOrder] | None = None,
) -> tuple[list[int], int]:
    """A first and a later projection from position 0 of the log, the later one started
    once the first is catching up. Answers how far behind the head the first was when
    each later batch was written, and the batch size. With `later_order` (given the batch
    size) the later one has an order of its own, as in another process."""
    append_contacts(runtime, 100)
    head = log_positions(runtime)[-1]
    size = batch_size(runtime)
    options: dict[str, Any] = {
        "batch_size": size,
        "order": order,
        "poll_interval": 0.2,
    }
    feed = ProjectionRunner(runtime.app, runtime.pool, made(runtime, Feed(names[0])), **options)
    later = made(runtime, Later(names[1], feed))
    assert isinstance(later, Later)
    if later_order is not None:
        options["order"] = later_order(size)
    behind = ProjectionRunner(runtime.app, runtime.pool, later, **options)
    assert behind.later
    assert not feed.later
    threads = run_all(feed)
    try:
        assert wait_until(lambda: names[0] in order.catching_up())
        threads += run_all(behind)
        assert wait_until(lambda: behind.position() >= head, timeout=60)
    finally:
        stop_all([feed, behind], threads)
    assert seen_positions(runtime, later) == [p for p in log_positions(runtime) if p <= head]
    return [head - position for position in later.feed_positions], size


def test_a_projection_that_catches_up_later_waits_for_the_first(
    runtime: Runtime, names: list[str]
) -> None:
    behind, size = later_behind_feed(runtime, names, CatchUpOrder(max_wait=60))
    # The later projection wrote its first batch only once the first had no full batch
    # left: its last, short batch ends its catch-up.
    assert behind
    assert max(behind) < size


def test_without_an_order_they_go_together(runtime: Runtime, names: list[str]) -> None:
    """The control for the test above: the same runners with `max_wait` 0."""
    behind, size = later_behind_feed(runtime, names, CatchUpOrder(max_wait=0))
    assert max(behind) >= size


@pytest.mark.parametrize("looks_elsewhere", [True, False], ids=["elsewhere", "control"])
def test_a_later_projection_waits_for_a_first_one_led_by_another_process(
    runtime: Runtime, names: list[str], looks_elsewhere: bool
) -> None:
    """Two orders, as two workers have: the later projection can only learn from the
    database that the first is catching up (its tracking row)."""

    def other_process(size: int) -> CatchUpOrder:
        elsewhere = CatchingUpElsewhere(runtime.pool, lambda: head(runtime), [names[0]], size)
        return CatchUpOrder(max_wait=60, elsewhere=elsewhere if looks_elsewhere else None)

    behind, size = later_behind_feed(runtime, names, CatchUpOrder(max_wait=60), other_process)
    assert behind
    if looks_elsewhere:
        assert max(behind) <= size  # its first batch: the first had under a batch to go
    else:
        assert max(behind) >= size


def test_only_a_first_rank_projection_that_is_running_and_behind_counts(
    runtime: Runtime, names: list[str]
) -> None:
    log_head = head(runtime)
    with runtime.pool.connection() as conn:
        conn.execute(
            "INSERT INTO projection_tracking (name, position, updated_at)"
            " VALUES (%s, 0, now()), (%s, 0, now() - interval '1 minute')",
            names[:2],
        )

    def catching_up(name: str, behind: int = 10) -> bool:
        return CatchingUpElsewhere(runtime.pool, lambda: log_head, [name], behind)()

    assert log_head > 10
    assert catching_up(names[0])  # moved just now, far behind
    assert not catching_up(names[1])  # far behind, but nobody has moved it for a minute
    assert not catching_up(names[0], behind=log_head)  # within `behind` of the head
    assert not catching_up(names[2])  # no such projection
    assert not CatchingUpElsewhere(runtime.pool, lambda: log_head, [], 10)()


@pytest.mark.parametrize("cheap_ahead", [0, 0.5], ids=["same start", "half a batch ahead"])
def test_a_cheap_projection_keeps_with_a_slow_one_so_the_log_is_decoded_once(
    runtime: Runtime, names: list[str], cheap_ahead: float
) -> None:
    """Left alone, a cheap projection runs ahead of a slow one of its rank, past the
    reader's cache, and the slow one reads and decodes every batch again. Started half a
    batch apart (a worker restarted after a crash), their batches line up after one."""
    append_contacts(runtime, 100)
    positions = log_positions(runtime)
    size = batch_size(runtime)
    order = CatchUpOrder(max_wait=10, spread=size)
    reader = LogReader(runtime.app, capacity=2)
    options: dict[str, Any] = {"batch_size": size, "reader": reader, "order": order}
    slow, cheap = made(runtime, Feed(names[0])), made(runtime, SeenProjection(names[1]))
    runners = [
        ProjectionRunner(runtime.app, runtime.pool, slow, **options),
        ProjectionRunner(runtime.app, runtime.pool, cheap, **options),
    ]
    start = positions[int(size * cheap_ahead)] if cheap_ahead else 0
    runners[1].ensure_tracking()
    with runtime.pool.connection() as conn:
        conn.execute(
            "UPDATE projection_tracking SET position = %s WHERE name = %s", (start, cheap.name)
        )
    threads = run_all(*runners)
    try:
        assert wait_until(lambda: all(r.position() >= positions[-1] for r in runners), timeout=60)
    finally:
        stop_all(runners, threads)
    assert seen_positions(runtime, cheap) == [p for p in positions if p > start]
    assert seen_positions(runtime, slow) == positions
    batches = -(-len(positions) // size)
    # Each full batch read once for both (the last, short one may be read by each, and
    # once more after NOTIFY; apart, the first batch of each).
    assert reader.read_count <= batches + 4
    # And most batches were answered from the cache (without the rule, the reads come to
    # about twice the batches; on a loaded machine a batch or two more may be read again).
    assert reader.shared >= batches // 2


def test_a_workers_runners_share_one_order(runtime: Runtime) -> None:
    """`syncline worker` (and this suite's runtime) runs every projection with one order:
    the event log, the audit chain and the inline read models the feed does not read
    (tenants, webhooks: behind only after a rebuild) catch up later."""
    order = runtime.catch_up_order
    assert order is not None
    assert order.max_wait == runtime.settings.catch_up_wait_seconds > 0
    later = {runner.name for runner in runtime.runners if runner.later}
    assert later == {"events", "audit", "tenants", "webhooks"}
    assert all(runner.order is order for runner in runtime.runners)
    # …and asks the database about the first rank wherever it is led.
    assert isinstance(order.elsewhere, CatchingUpElsewhere)
    assert sorted(order.elsewhere.names) == ["deliveries", "records"]
    assert order.elsewhere.fresh > order.max_wait


def test_the_later_rank_finds_the_oldest_batches_still_decoded(runtime: Runtime) -> None:
    """A reader with room for more than its frontier keeps, once the room is full, the
    oldest batches (the later rank reads them first) and the frontier (where the first
    rank reads), not the most recently read ones alone: after a first pass over 24
    batches, a second pass from the start reads again only the 8 that did not fit. A
    reader that kept the most recent 16 would read all 24 again (each read evicting the
    batch the pass needed next)."""
    size = 5
    start = append_contacts(runtime, 24 * size + 2) - (24 * size + 2)
    starts = [start + i * size for i in range(24)]
    reader = LogReader(runtime.app, capacity=16)
    first = [reader.read(after, size) for after in starts]
    assert all(len(batch) == size for batch in first)
    assert reader.read_count == 24
    assert reader.kept == 16
    assert reader.kept_events == 16 * size

    later = [reader.read(after, size) for after in starts]
    assert later == first
    assert reader.read_count == 24 + 8, "only the batches that did not fit are read again"
    assert all(a is b for a, b in zip(later[:8], first[:8], strict=True))  # the oldest
    assert all(a is b for a, b in zip(later[-8:], first[-8:], strict=True))  # the frontier
    assert reader.kept == 16

    assert reader.kept_events == 16 * size
    reader.release()
    assert reader.kept == 0
    assert reader.kept_events == 0
    reader.read(starts[0], size)
    assert reader.read_count == 24 + 8 + 1


def test_a_worker_lets_the_decoded_log_go_once_every_projection_is_at_the_head(
    runtime: Runtime,
) -> None:
    """The worker's reader keeps up to SYNCLINE_CATCH_UP_CACHE_EVENTS decoded events while
    its projections catch up (the later rank reads them instead of the log) and drops them
    when the last one reaches the head."""
    reader, order = runtime.log_reader, runtime.catch_up_order
    assert reader is not None
    assert order is not None
    assert reader.capacity == runtime.settings.catch_up_cache_events // DEFAULT_BATCH
    assert order.on_caught_up == runtime._caught_up
    # A backlog of full batches for every projection of the suite's runtime.
    size = min(runner.batch_size for runner in runtime.runners)
    shared = reader.shared
    append_contacts(runtime, 3 * size + 1)
    assert runtime.wait_for_projections(timeout=60)
    assert reader.shared > shared, "the runners caught up on batches read once for all"
    assert wait_until(lambda: not order.catching_up() and reader.kept == 0, timeout=10)


def test_a_worker_without_the_later_rank_keeps_only_the_frontier(test_settings: Settings) -> None:
    """Nobody would read the batches a worker kept for the later rank: a worker of the
    change feed alone (`--projections records,deliveries`) keeps its 8-batch frontier."""
    settings = dataclasses.replace(test_settings, catch_up_cache_events=50_000)
    feed_only = Runtime.open(settings, pool_size=2)
    try:
        feed_only.start_projections(["records", "deliveries"], poll_interval=0.5)
        assert feed_only.log_reader is not None
        assert feed_only.log_reader.capacity == FRONTIER
        feed_only.start_projections(["events"], poll_interval=0.5)
        assert feed_only.log_reader.capacity == 50_000 // DEFAULT_BATCH
    finally:
        feed_only.close()
