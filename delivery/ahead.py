"""ClaimAhead: how far ahead of its senders a delivery worker claims.

Claimed deliveries wait in the worker's lines (`delivery.slots.FairQueue`) so that a free
sender never waits for a database round trip. While the senders send fast, a claim and the
settle before it take long enough for the lines to run dry: with one endpoint taking 6,000
deliveries/s, a claim of ~100 rows and a settle took 12 to 20 ms together, and the senders
found nothing to take 20% of the time. So the worker claims ahead what it sends in
`HORIZON` at its recent rate:

- in all, at least two batches (what it always claimed ahead) and at most four;
- of one endpoint, at least `AHEAD` times its in-flight limit (what it always could) and at
  most twice that.

An endpoint's recent rate is what the worker finished of it between claims, smoothed over
time (`SMOOTHING` seconds: a burst, such as a hanging endpoint's requests timing out
together, moves it little). A slow or hanging endpoint finishes little, so it keeps the lower
bound, as before; only an endpoint that answers fast gets more claimed ahead of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from uuid import UUID

HORIZON = 0.05  # seconds of sending claimed ahead
SMOOTHING = 0.25  # seconds: the time constant of the rates' exponential smoothing
FORGET_BELOW = 1.0  # deliveries/s: a rate this low is dropped (the lower bound applies)


class ClaimAhead:
    def __init__(self, batch: int, allowance: int) -> None:
        """`batch`: the worker's claim and settle batch; `allowance`: what a claim may hold
        of one endpoint at least (`FairQueue.allowance`)."""
        self.least, self.most = 2 * batch, 4 * batch
        self.allowance = allowance
        self.rates: dict[UUID, float] = {}  # deliveries/s finished, per endpoint
        self._total = self.least  # asked after every send: kept, not summed each time
        self._since: float | None = None

    def observe(self, finished: Mapping[UUID, int], now: float) -> None:
        """What was finished per endpoint since the last observation, at `now` (monotonic
        seconds)."""
        if self._since is None or now <= self._since:
            self._since = now
            return
        elapsed, self._since = now - self._since, now
        weight = 1 - math.exp(-elapsed / SMOOTHING)  # the interval's share of the rate
        rates: dict[UUID, float] = {}
        for endpoint in self.rates.keys() | finished.keys():
            rate = (1 - weight) * self.rates.get(endpoint, 0.0)
            rate += weight * finished.get(endpoint, 0) / elapsed
            if rate >= FORGET_BELOW:
                rates[endpoint] = rate
        self.rates = rates
        self._total = _within(sum(rates.values()) * HORIZON, self.least, self.most)

    def total(self) -> int:
        """How many deliveries to hold claimed and waiting for a sender, in all."""
        return self._total

    def allowances(self) -> dict[UUID, int]:
        """The endpoints whose allowance is above the lower bound, and theirs."""
        raised = {}
        for endpoint, rate in self.rates.items():
            allowance = _within(rate * HORIZON, self.allowance, 2 * self.allowance)
            if allowance > self.allowance:
                raised[endpoint] = allowance
        return raised


def _within(value: float, least: int, most: int) -> int:
    return max(least, min(most, round(value)))
