"""CatchUpOrder: the first go first, a rank keeps together, and every wait is bounded."""

from __future__ import annotations

import threading
import time

from projections.priority import CatchingUpElsewhere, CatchUpOrder

NEVER = threading.Event()


def waited(
    order: CatchUpOrder, name: str, *, later: bool, position: int, full: bool = True
) -> float:
    """Seconds `before_batch` took."""
    started = time.monotonic()
    order.before_batch(name, later=later, position=position, full=full, stop=NEVER)
    return time.monotonic() - started


def test_with_nobody_catching_up_nobody_waits() -> None:
    order = CatchUpOrder(max_wait=10)
    assert waited(order, "records", later=True, position=0) < 1
    assert waited(order, "changes", later=False, position=0) < 1


def test_one_that_catches_up_later_waits_for_the_first_at_most_max_wait() -> None:
    order = CatchUpOrder(max_wait=0.2)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    assert order.catching_up() == {"changes": 0}
    assert 0.2 <= waited(order, "records", later=True, position=0) < 2
    # At the head too: a later projection with a short batch still lets the first go first.
    assert 0.2 <= waited(order, "records", later=True, position=0, full=False) < 2


def test_the_first_never_wait_for_the_later() -> None:
    order = CatchUpOrder(max_wait=10)
    order.before_batch("records", later=True, position=0, full=True, stop=NEVER)
    assert waited(order, "changes", later=False, position=50_000) < 1


def test_the_later_go_once_the_first_are_done() -> None:
    order = CatchUpOrder(max_wait=10)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    release = threading.Timer(0.2, order.done, ["changes"])
    release.start()
    assert 0.15 <= waited(order, "records", later=True, position=0) < 5
    assert order.catching_up() == {"records": 0}


def test_a_short_batch_is_the_head_so_it_no_longer_holds_anyone() -> None:
    order = CatchUpOrder(max_wait=10)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    order.before_batch(
        "changes", later=False, position=5000, full=False, stop=NEVER
    )  # the end of the log
    assert order.catching_up() == {}
    assert waited(order, "records", later=True, position=0) < 1


def test_one_ahead_of_its_rank_waits_until_the_laggard_is_within_the_spread() -> None:
    order = CatchUpOrder(max_wait=10, spread=4000)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    # Within the spread: no wait.
    assert waited(order, "deliveries", later=False, position=4000) < 1

    def laggard() -> None:
        for position in (1000, 2000, 3000):
            time.sleep(0.1)
            order.before_batch("changes", later=False, position=position, full=True, stop=NEVER)

    thread = threading.Thread(target=laggard)
    thread.start()
    # 7000 is 7000 ahead of 0: it goes once the laggard is at 3000, after about 0.3 s.
    assert 0.25 <= waited(order, "deliveries", later=False, position=7000) < 5
    thread.join()
    assert order.catching_up() == {"changes": 3000, "deliveries": 7000}
    # The laggard itself never waits for those ahead of it.
    assert waited(order, "changes", later=False, position=4000) < 1


def test_a_later_one_far_ahead_of_its_rank_waits_while_catching_up() -> None:
    order = CatchUpOrder(max_wait=0.3, spread=4000)
    order.before_batch("records", later=True, position=0, full=True, stop=NEVER)
    assert 0.3 <= waited(order, "events", later=True, position=50_000) < 3


def test_only_a_projection_catching_up_keeps_with_its_rank() -> None:
    order = CatchUpOrder(max_wait=10, spread=4000)
    order.before_batch("records", later=True, position=0, full=True, stop=NEVER)
    # At the head (a short batch), nothing to keep up with.
    assert waited(order, "events", later=True, position=50_000, full=False) < 1


def test_stop_ends_a_wait_at_once() -> None:
    order = CatchUpOrder(max_wait=30)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    stop = threading.Event()

    def stopping() -> None:
        stop.set()
        order.wake()

    threading.Timer(0.1, stopping).start()
    started = time.monotonic()
    order.before_batch("records", later=True, position=0, full=True, stop=stop)
    assert time.monotonic() - started < 5


def test_max_wait_zero_means_no_order() -> None:
    order = CatchUpOrder(max_wait=0)
    order.before_batch("changes", later=False, position=0, full=True, stop=NEVER)
    assert waited(order, "records", later=True, position=0) < 1
    assert waited(order, "deliveries", later=False, position=90_000) < 1


class Elsewhere:
    """A first-rank projection in another process: catching up until `until` (monotonic)."""

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return time.monotonic() < self.until


def test_a_later_one_waits_while_a_first_one_elsewhere_catches_up() -> None:
    elsewhere = Elsewhere(0.6)
    order = CatchUpOrder(max_wait=10, elsewhere=elsewhere)
    assert 0.5 <= waited(order, "records", later=True, position=0) < 2  # until it is done, polling
    assert elsewhere.asked >= 2
    assert waited(order, "records", later=True, position=0) < 0.2  # done now


def test_waiting_for_elsewhere_is_bounded_by_max_wait_and_ended_by_stop() -> None:
    order = CatchUpOrder(max_wait=0.3, elsewhere=Elsewhere(60))
    assert 0.3 <= waited(order, "records", later=True, position=0) < 2
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    order.before_batch("records", later=True, position=0, full=True, stop=stop)
    assert time.monotonic() - started < 0.2


def test_only_a_later_one_catching_up_looks_elsewhere() -> None:
    elsewhere = Elsewhere(60)
    order = CatchUpOrder(max_wait=10, elsewhere=elsewhere)
    assert (
        waited(order, "records", later=True, position=0, full=False) < 0.2
    )  # at the head: a short batch
    assert waited(order, "changes", later=False, position=0) < 0.2  # the first rank does not wait
    assert elsewhere.asked == 0
    assert (
        waited(CatchUpOrder(max_wait=0, elsewhere=elsewhere), "records", later=True, position=0)
        < 0.2
    )
    assert elsewhere.asked == 0


def test_waiting_in_process_and_elsewhere_share_one_bound() -> None:
    order = CatchUpOrder(max_wait=0.4, elsewhere=Elsewhere(60))
    order.before_batch(
        "changes", later=False, position=0, full=True, stop=NEVER
    )  # a first-rank one here, too
    assert 0.4 <= waited(order, "records", later=True, position=0) < 0.75


def test_a_failing_question_counts_as_no() -> None:
    def unreachable() -> int:
        raise OSError("the database is gone")

    elsewhere = CatchingUpElsewhere(None, unreachable, ["changes"], 10)  # type: ignore[arg-type]
    assert elsewhere() is False
    assert (
        waited(CatchUpOrder(max_wait=10, elsewhere=elsewhere), "records", later=True, position=0)
        < 0.2
    )


def test_the_last_one_to_stop_catching_up_says_so() -> None:
    """`on_caught_up` (the worker's log reader lets its batches go) is called once nobody
    is catching up: not while another runner still is, whether it stopped at the head (a
    short batch) or ended (`done`)."""
    calls: list[int] = []
    order = CatchUpOrder(max_wait=0, on_caught_up=lambda: calls.append(1))
    order.before_batch("records", later=False, position=0, full=True, stop=NEVER)
    order.before_batch("events", later=True, position=0, full=True, stop=NEVER)
    order.before_batch("records", later=False, position=9_000, full=False, stop=NEVER)
    assert calls == []  # the event log is still catching up
    order.done("events")
    assert calls == [1]
    order.done("events")  # not catching up: nothing changes, nothing said
    order.before_batch("records", later=False, position=9_000, full=False, stop=NEVER)
    assert calls == [1]
