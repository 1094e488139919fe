"""ClaimAhead: a worker claims ahead what it sends in `HORIZON` at its recent rate, in all
between two and four batches, and of one endpoint between its allowance and twice that."""

from __future__ import annotations

from collections import Counter
from uuid import uuid4

import pytest

from delivery.ahead import ClaimAhead


def test_a_fast_endpoint_gets_more_claimed_ahead_within_bounds() -> None:
    ahead = ClaimAhead(batch=64, allowance=128)
    fast, slow = uuid4(), uuid4()
    assert ahead.total() == 128
    assert ahead.allowances() == {}
    ahead.observe(Counter(), now=10.0)
    # 0.02 s: 120 of the fast one's finished (6,000/s), 1 of the slow one's (50/s).
    ahead.observe(Counter({fast: 120, slow: 1}), now=10.02)
    assert ahead.rates[fast] == pytest.approx(3000)  # half the interval's rate: smoothed
    assert ahead.total() == 151  # 3,025/s for 0.05 s
    assert ahead.allowances() == {fast: 150}  # the slow one keeps its 128
    ahead.observe(Counter({fast: 240, slow: 1}), now=10.04)
    assert ahead.total() == 4 * 64  # at most four batches
    assert ahead.allowances() == {fast: 256}  # at most twice the allowance


def test_an_endpoint_that_stops_finishing_falls_back_to_the_lower_bounds() -> None:
    ahead = ClaimAhead(batch=64, allowance=32)
    endpoint = uuid4()
    ahead.observe(Counter(), now=0.0)
    ahead.observe(Counter({endpoint: 200}), now=0.01)  # 20,000/s
    assert ahead.allowances() == {endpoint: 64}
    for step in range(1, 30):  # nothing finished for a while (a hanging endpoint)
        ahead.observe(Counter(), now=0.01 + step * 0.1)
    assert endpoint not in ahead.rates  # forgotten below 1/s
    assert ahead.total() == 128
    assert ahead.allowances() == {}


def test_observations_at_the_same_instant_are_ignored() -> None:
    ahead = ClaimAhead(batch=10, allowance=4)
    endpoint = uuid4()
    ahead.observe(Counter(), now=5.0)
    ahead.observe(Counter({endpoint: 1000}), now=5.0)
    assert ahead.rates == {}
