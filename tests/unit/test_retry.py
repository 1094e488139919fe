"""retrying_conflicts: a load-change-save step runs again while a concurrent save wins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eventsourcing.persistence import IntegrityError

from domain.retry import CONFLICT_RETRIES, retrying_conflicts


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
