"""retrying_conflicts: a load-change-save step runs again while a concurrent save wins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eventsourcing.persistence import IntegrityError

from domain.retry import BACKOFF, CONFLICT_RETRIES, retrying_conflicts


def losing(times: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise IntegrityError("a concurrent save got there first")
        return "saved"

    return calls, attempt


def test_a_step_that_loses_is_run_again_until_it_wins() -> None:
    calls, attempt = losing(CONFLICT_RETRIES - 1)
    assert retrying_conflicts(attempt) == "saved"
    assert len(calls) == CONFLICT_RETRIES


def test_a_step_that_keeps_losing_raises_the_last_conflict() -> None:
    calls, attempt = losing(CONFLICT_RETRIES)
    with pytest.raises(IntegrityError):
        retrying_conflicts(attempt)
    assert len(calls) == CONFLICT_RETRIES


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise ValueError("not a conflict")

    with pytest.raises(ValueError, match="not a conflict"):
        retrying_conflicts(attempt)
    assert calls == [1]


def test_each_retry_waits_a_random_pause_that_doubles() -> None:
    calls, attempt = losing(CONFLICT_RETRIES - 1)
    assert not calls
    pauses: list[float] = []
    assert retrying_conflicts(attempt, sleep=pauses.append, rand=lambda: 1.0) == "saved"
    assert pauses == [BACKOFF * 2**n for n in range(CONFLICT_RETRIES - 1)]
    jittered: list[float] = []
    _, attempt = losing(2)
    retrying_conflicts(attempt, sleep=jittered.append, rand=lambda: 0.25)
    assert jittered == [0.25 * BACKOFF, 0.5 * BACKOFF]


def test_no_pause_after_the_last_conflict_or_a_win() -> None:
    pauses: list[float] = []
    _, attempt = losing(CONFLICT_RETRIES)
    with pytest.raises(IntegrityError):
        retrying_conflicts(attempt, sleep=pauses.append)
    assert len(pauses) == CONFLICT_RETRIES - 1
    pauses.clear()
    _, attempt = losing(0)
    retrying_conflicts(attempt, sleep=pauses.append)
    assert pauses == []
