"""Delivery metrics for Prometheus, kept in PostgreSQL so any API process shows the whole fleet.

Workers add their counts in the same transaction that settles the deliveries; the collector
reads them (and the live backlog) when `/metrics` is scraped.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0)
HISTOGRAMS = {"attempt_seconds": ATTEMPT_BUCKETS, "delivery_seconds": DELIVERY_BUCKETS}

INCREMENT = """
INSERT INTO webhook_metrics AS m (name, label, value)
SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[])
ON CONFLICT (name, label) DO UPDATE SET value = m.value + excluded.value
"""


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def increments(
    outcomes: Iterable[str], attempt_seconds: Iterable[float], delivery_seconds: Iterable[float]
) -> list[tuple[str, str, float]]:
    """`(name, label, delta)` rows, sorted (the lock order), for one batch of attempts."""
    counts: Counter[tuple[str, str]] = Counter()
    sums: dict[tuple[str, str], float] = {}
    for outcome in outcomes:
        counts["attempts", outcome] += 1
    observed = {"attempt_seconds": attempt_seconds, "delivery_seconds": delivery_seconds}
    for name, values in observed.items():
        for value in values:
            for bound in (*HISTOGRAMS[name], math.inf):
                if value <= bound:
                    counts[name, _le(bound)] += 1
            sums[f"{name}_sum", ""] = sums.get((f"{name}_sum", ""), 0.0) + value
    rows = [(name, label, float(n)) for (name, label), n in counts.items()]
    rows += [(name, label, total) for (name, label), total in sums.items()]
    return sorted(rows)


def increment_columns(rows: Sequence[tuple[str, str, float]]) -> list[list[Any]]:
    return [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]


class DeliveryMetricsCollector(Collector):
    """`syncline_webhook_*`: backlog, attempts by outcome, attempt and delivery latency."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        try:
            with self.pool.connection(timeout=2) as conn:
                backlog = conn.execute(
                    "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
                ).fetchone()
                rows = conn.execute("SELECT name, label, value FROM webhook_metrics").fetchall()
        except Exception:  # a scrape must not fail because the database is away
            log.warning("delivery metrics unavailable", exc_info=True)
            return
        yield GaugeMetricFamily(
            "syncline_webhook_backlog",
            "Webhook deliveries waiting to be sent or retried.",
            value=backlog[0] if backlog else 0,
        )
        values = {(name, label): value for name, label, value in rows}
        attempts = CounterMetricFamily(
            "syncline_webhook_attempts",
            "Webhook delivery attempts, by outcome.",
            labels=["outcome"],
        )
        for (name, label), value in sorted(values.items()):
            if name == "attempts":
                attempts.add_metric([label], value)
        yield attempts
        for name, bounds in HISTOGRAMS.items():
            buckets = [(_le(b), values.get((name, _le(b)), 0.0)) for b in (*bounds, math.inf)]
            yield HistogramMetricFamily(
                f"syncline_webhook_{name}",
                "Duration of one delivery attempt (the HTTP request)."
                if name == "attempt_seconds"
                else "From the event's commit to its successful delivery.",
                buckets=buckets,
                sum_value=values.get((f"{name}_sum", ""), 0.0),
            )
