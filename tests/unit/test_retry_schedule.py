"""RetrySchedule: the delivery retry policy, without a database or a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.retry import STANDARD_DELAYS, RetrySchedule, parse_retry_after

NOW = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_the_standard_schedule_is_the_documented_one() -> None:
    assert STANDARD_DELAYS == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    schedule = RetrySchedule()
    centred = [schedule.next_delay(n, rand=lambda: 0.5) for n in range(1, 9)]
    assert centred == [5, 300, 1800, 7200, 18000, 36000, 36000, None]


@given(attempts=st.integers(1, 7), r=st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_twenty_percent(attempts: int, r: float) -> None:
    delay = RetrySchedule().next_delay(attempts, rand=lambda: r)
    base = STANDARD_DELAYS[attempts]
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


@given(attempts=st.integers(8, 1000))
def test_after_eight_attempts_the_delivery_is_given_up(attempts: int) -> None:
    assert RetrySchedule().next_delay(attempts, retry_after=10) is None


@given(attempts=st.integers(1, 7), retry_after=st.floats(0, 10**7))
def test_retry_after_is_never_undercut_and_is_capped(attempts: int, retry_after: float) -> None:
    schedule = RetrySchedule()
    delay = schedule.next_delay(attempts, retry_after=retry_after, rand=lambda: 0.0)
    assert delay is not None
    assert delay >= min(retry_after, schedule.max_retry_after)
    assert delay <= max(STANDARD_DELAYS[attempts], schedule.max_retry_after)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ((NOW + timedelta(minutes=2)).strftime("%a, %d %b %Y %H:%M:%S GMT"), 120.0),
        ((NOW - timedelta(minutes=2)).strftime("%a, %d %b %Y %H:%M:%S GMT"), 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_headers_are_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_a_short_schedule_for_tests_keeps_its_shape() -> None:
    schedule = RetrySchedule(delays=(0, 0.1, 0.2), jitter=0)
    assert [schedule.next_delay(n) for n in (1, 2, 3)] == [0.1, 0.2, None]


@given(attempts=st.integers(1, 7), latency=st.floats(0, 60), r=st.floats(0, 1, exclude_max=True))
def test_the_next_try_counts_from_the_end_of_the_failed_attempt(
    attempts: int, latency: float, r: float
) -> None:
    """A timeout ends when the timeout runs out: the whole delay follows it."""
    schedule = RetrySchedule()
    finished = NOW + timedelta(seconds=latency)
    delay = schedule.next_delay(attempts, rand=lambda: r)
    assert delay is not None
    assert schedule.retry_at(attempts, finished, rand=lambda: r) == finished + timedelta(
        seconds=delay
    )
    assert schedule.retry_at(8, finished) is None
