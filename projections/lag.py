"""Projection lag: how far each projection is behind the log, as Prometheus gauges."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg import sql
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)
EXACT_COUNT_LIMIT = 100_000  # beyond this lag, events behind is head - position


@dataclass(frozen=True)
class Lag:
    """One projection's distance from the log head."""

    projection: str
    position: int
    events_behind: int  # events in the log after its position
    seconds_behind: float  # how long the oldest event it has not processed has waited
    failing_seconds: float = 0.0  # how long its runner has been failing (0: it is not)


def measure_lag(
    pool: ConnectionPool,
    app: Application[Any],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Lag]:
    """Every tracked projection's lag, read now (a few cheap index lookups)."""
    recorder: Any = app.recorder
    # The head through this pool (which gives up after 2 s), not the event store's (whose
    # reads the library retries ten times): a scrape while the database is away fails fast.
    with pool.connection(timeout=2) as conn:
        found = conn.execute(
            sql.SQL("SELECT max(notification_id) FROM {}").format(_events_table(recorder))
        ).fetchone()
        head = int(found[0] or 0) if found else 0
        rows = conn.execute(
            "SELECT name, position, coalesce(extract(epoch FROM now() - failing_since), 0)"
            " FROM projection_tracking ORDER BY name"
        ).fetchall()
    waited: dict[int, float] = {}
    behind: dict[int, int] = {}
    lags = []
    for name, position, failing in rows:
        seconds = 0.0
        if position < head and position not in behind:
            behind[position] = _events_between(pool, recorder, position, head)
        if position < head:
            if position not in waited:
                oldest = recorder.select_notifications(
                    start=position, limit=1, inclusive_of_start=False
                )
                event: Any = app.mapper.to_domain_event(oldest[0]) if oldest else None
                waited[position] = (
                    max(0.0, (now() - event.timestamp).total_seconds()) if event else 0.0
                )
            seconds = waited[position]
        lag = Lag(name, int(position), behind.get(position, 0), seconds, max(0.0, float(failing)))
        lags.append(lag)
    return lags


def _events_between(pool: ConnectionPool, recorder: Any, after: int, head: int) -> int:
    """Events in (after, head]: counted when few (ids have gaps where inserts failed),
    estimated from the ids when a count would cost more than a scrape should."""
    if head - after > EXACT_COUNT_LIMIT:
        return head - after
    query = sql.SQL(
        "SELECT count(*) FROM {} WHERE notification_id > %s AND notification_id <= %s"
    ).format(_events_table(recorder))
    with pool.connection(timeout=2) as conn:
        row = conn.execute(query, (after, head)).fetchone()
    return int(row[0]) if row else head - after


def _events_table(recorder: Any) -> sql.Identifier:
    """The event store's table, read through our pool."""
    return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)


class ProjectionLagCollector(Collector):
    """Reads projection lag at scrape time (nothing is cached between scrapes)."""

    def __init__(self, measure: Callable[[], list[Lag]]) -> None:
        self.measure = measure

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            lags = self.measure()
        except Exception:  # a scrape must not fail because the database is down
            log.warning("could not measure projection lag", exc_info=True)
            return
        events, seconds, position, failing = self._families()
        for lag in lags:
            events.add_metric([lag.projection], lag.events_behind)
            seconds.add_metric([lag.projection], lag.seconds_behind)
            position.add_metric([lag.projection], lag.position)
            failing.add_metric([lag.projection], lag.failing_seconds)
        yield events
        yield seconds
        yield position
        yield failing

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
    ]:
        events = GaugeMetricFamily(
            "syncline_projection_lag_events",
            "Events in the log that the projection has not processed yet.",
            labels=["projection"],
        )
        seconds = GaugeMetricFamily(
            "syncline_projection_lag_seconds",
            "Age of the oldest event the projection has not processed yet (0 when caught up).",
            labels=["projection"],
        )
        position = GaugeMetricFamily(
            "syncline_projection_position",
            "The log position (notification id) the projection has processed up to.",
            labels=["projection"],
        )
        failing = GaugeMetricFamily(
            "syncline_projection_failing_seconds",
            "How long the projection's runner has been failing and retrying (0 when it is"
            " not); the error is in projection_tracking.last_error and the worker's log.",
            labels=["projection"],
        )
        return events, seconds, position, failing


_registered: dict[int, ProjectionLagCollector] = {}


def register_projection_lag(
    pool: ConnectionPool, app: Application[Any], registry: CollectorRegistry = REGISTRY
) -> ProjectionLagCollector:
    """Expose the lag gauges on `registry` (replacing a previous app's, in this process)."""
    previous = _registered.pop(id(registry), None)
    if previous is not None:
        registry.unregister(previous)
    collector = ProjectionLagCollector(lambda: measure_lag(pool, app))
    registry.register(collector)
    _registered[id(registry)] = collector
    return collector
