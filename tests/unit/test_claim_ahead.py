"""ClaimAhead: a worker claims ahead what it sends in `HORIZON` at its recent rate, in all
between two and four batches, and of one endpoint between its allowance and twice that; the
rates are smoothed over time, so a burst moves them little."""

from __future__ import annotations

import math
from collections import Counter
from uuid import uuid4

import pytest

from delivery.ahead import HORIZON, SMOOTHING, ClaimAhead


def steady(ahead: ClaimAhead, per_step: dict, *, seconds: float, step: float, t: float) -> float:
    """Observe `per_step` finished every `step` seconds for `seconds`; answer the time."""
    for _ in range(round(seconds / step)):
        t += step
        ahead.observe(Counter(per_step), now=t)
    return t


def test_a_fast_endpoint_gets_more_claimed_ahead_within_bounds() -> None:
    ahead = ClaimAhead(batch=64, allowance=64)
    fast, slow = uuid4(), uuid4()
    assert ahead.total() == 128
    assert ahead.allowances() == {}  # nothing observed yet
    ahead.observe(Counter(), now=10.0)
    # 0.2 s at 3,000/s (60 every 20 ms) for the fast one, 50/s for the slow one.
    t = steady(ahead, {fast: 60, slow: 1}, seconds=0.2, step=0.02, t=10.0)
    expected = 3000 * (1 - math.exp(-0.2 / SMOOTHING))
    assert ahead.rates[fast] == pytest.approx(expected)
    assert ahead.total() == 128  # ~1,700/s for 0.05 s is below two batches
    assert ahead.allowances() == {fast: round(expected * HORIZON)}  # above 64; slow keeps 64
    # A second at 6,000/s: both bounds reached.
    steady(ahead, {fast: 120, slow: 1}, seconds=1.0, step=0.02, t=t)
    assert ahead.total() == 4 * 64  # at most four batches
    assert ahead.allowances() == {fast: 128}  # at most twice the allowance


def test_a_burst_barely_moves_a_rate() -> None:
    """A hanging endpoint's eight requests time out together, 6 ms after the last claim."""
    ahead = ClaimAhead(batch=64, allowance=32)
    hanging = uuid4()
    ahead.observe(Counter(), now=0.0)
    ahead.observe(Counter({hanging: 8}), now=0.006)
    assert ahead.rates[hanging] < 40  # 1,333/s in that instant
    assert ahead.allowances() == {}


def test_an_endpoint_that_stops_finishing_falls_back_to_the_lower_bounds() -> None:
    ahead = ClaimAhead(batch=64, allowance=32)
    endpoint = uuid4()
    ahead.observe(Counter(), now=0.0)
    t = steady(ahead, {endpoint: 200}, seconds=1.0, step=0.01, t=0.0)  # 20,000/s
    assert ahead.allowances() == {endpoint: 64}
    steady(ahead, {}, seconds=3.0, step=0.1, t=t)  # nothing finished (it hangs)
    assert endpoint not in ahead.rates  # forgotten below 1/s
    assert ahead.total() == 128
    assert ahead.allowances() == {}


def test_observations_at_the_same_instant_are_ignored() -> None:
    ahead = ClaimAhead(batch=10, allowance=4)
    endpoint = uuid4()
    ahead.observe(Counter(), now=5.0)
    ahead.observe(Counter({endpoint: 1000}), now=5.0)
    assert ahead.rates == {}
