"""Delivery metrics for Prometheus, kept in PostgreSQL so any API process shows the whole fleet.

Workers add their counts in the same transaction that settles the deliveries; the collector
reads them (and the live backlog) when `/metrics` is scraped.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator

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
# Endpoints of active webhooks only: a deleted webhook's breaker state is left behind.
CIRCUITS = """
SELECT e.circuit, count(*) FROM webhook_endpoint_state e
JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.status = 'active'
WHERE e.circuit <> 'closed' GROUP BY e.circuit
"""
HISTOGRAMS = {"attempt_seconds": ATTEMPT_BUCKETS, "delivery_seconds": DELIVERY_BUCKETS}


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


# Each histogram's bucket labels, by the index `bisect_left` finds (the last is +Inf).
_LABELS = {name: [_le(b) for b in (*bounds, math.inf)] for name, bounds in HISTOGRAMS.items()}


def increments(
    outcomes: Iterable[str], attempt_seconds: Iterable[float], delivery_seconds: Iterable[float]
) -> list[tuple[str, str, float]]:
    """`(name, label, delta)` rows, sorted (the lock order), for one batch of attempts.

    Histogram rows count the observations of each bucket alone (not cumulatively), so an
    observation touches one row; the collector adds them up.
    """
    counts: Counter[tuple[str, str]] = Counter(("attempts", outcome) for outcome in outcomes)
    sums: dict[tuple[str, str], float] = {}
    observed = {"attempt_seconds": attempt_seconds, "delivery_seconds": delivery_seconds}
    for name, values in observed.items():
        bounds, labels = HISTOGRAMS[name], _LABELS[name]
        values = list(values)
        if values:
            counts.update((name, labels[bisect.bisect_left(bounds, v)]) for v in values)
            sums[f"{name}_sum", ""] = math.fsum(values)
    rows = [(name, label, float(n)) for (name, label), n in counts.items()]
    rows += [(name, label, total) for (name, label), total in sums.items()]
    return sorted(rows)


class DeliveryMetricsCollector(Collector):
    """`syncline_webhook_*`: backlog, endpoints held by their circuit breaker, attempts by
    outcome, attempt and delivery latency."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        try:
            with self.pool.connection(timeout=2) as conn:
                backlog = conn.execute("SELECT count(*) FROM webhook_pending").fetchone()
                rows = conn.execute("SELECT name, label, value FROM webhook_metrics").fetchall()
                circuits: dict[str, int] = dict(conn.execute(CIRCUITS).fetchall())
        except Exception:  # a scrape must not fail because the database is away
            log.warning("delivery metrics unavailable", exc_info=True)
            return
        yield GaugeMetricFamily(
            "syncline_webhook_backlog",
            "Webhook deliveries waiting to be sent or retried.",
            value=backlog[0] if backlog else 0,
        )
        endpoints = GaugeMetricFamily(
            "syncline_webhook_endpoints_held",
            "Webhook endpoints whose circuit breaker is open (deliveries held) or half-open"
            " (one probe in flight).",
            labels=["circuit"],
        )
        for state in ("open", "half_open"):
            endpoints.add_metric([state], circuits.get(state, 0))
        yield endpoints
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
            running, buckets = 0.0, []
            for bound in (*bounds, math.inf):
                running += values.get((name, _le(bound)), 0.0)
                buckets.append((_le(bound), running))
            yield HistogramMetricFamily(
                f"syncline_webhook_{name}",
                "Duration of one delivery attempt (the HTTP request)."
                if name == "attempt_seconds"
                else "From the event's commit to its successful delivery.",
                buckets=buckets,
                sum_value=values.get((f"{name}_sum", ""), 0.0),
            )
