"""An endpoint's health over the last 24 hours: attempts per hour, success rate and latency
(p50, p99), and the same as an inline SVG chart (no script, no chart library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from uuid import UUID

from api.services import ApiServices

WINDOW = timedelta(hours=24)
HOURLY = """
SELECT date_trunc('hour', a.attempted_at) AS hour, count(*),
    count(*) FILTER (WHERE a.outcome = 'delivered'),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY a.latency_ms)
FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
WHERE a.subscription_id = %(webhook)s AND d.tenant_id = %(tenant)s
    AND a.attempted_at >= %(since)s
GROUP BY 1 ORDER BY 1
"""
TOTAL = """
SELECT count(*), count(*) FILTER (WHERE a.outcome = 'delivered'),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY a.latency_ms)
FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
WHERE a.subscription_id = %(webhook)s AND d.tenant_id = %(tenant)s
    AND a.attempted_at >= %(since)s
"""


@dataclass(frozen=True)
class Hour:
    start: datetime
    attempts: int
    delivered: int
    p50_ms: float
    p99_ms: float

    @property
    def success_rate(self) -> float:
        return self.delivered / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class Health:
    attempts: int
    delivered: int
    p50_ms: float | None
    p99_ms: float | None
    hours: list[Hour]

    @property
    def success_rate(self) -> float | None:
        return self.delivered / self.attempts if self.attempts else None


def endpoint_health(services: ApiServices, tenant_id: UUID, webhook_id: UUID) -> Health:
    params = {"webhook": webhook_id, "tenant": tenant_id, "since": services.clock.now() - WINDOW}
    with services.pool.connection() as conn:
        hours = [Hour(*row) for row in conn.execute(HOURLY, params)]
        total: Any = conn.execute(TOTAL, params).fetchone()
    return Health(total[0], total[1], total[2], total[3], hours)


def chart(health: Health, now: datetime) -> str:
    """24 hourly bars (height: attempts; green share: delivered) and the p99 latency as a
    line, with a text title and description for screen readers."""
    width, height, bar = 480, 120, 20
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    by_hour = {h.start.replace(tzinfo=start.tzinfo): h for h in health.hours}
    peak = max((h.attempts for h in health.hours), default=0) or 1
    slowest = max((h.p99_ms for h in health.hours), default=0.0) or 1.0
    parts = []
    points = []
    for i in range(24):
        hour = by_hour.get(start + timedelta(hours=i))
        x = i * bar
        if hour is None:
            continue
        total_h = hour.attempts / peak * (height - 10)
        ok_h = hour.delivered / peak * (height - 10)
        label = (
            f"{(start + timedelta(hours=i)):%H}:00 — {hour.attempts} attempts,"
            f" {hour.success_rate:.0%} delivered, p50 {hour.p50_ms:.0f} ms,"
            f" p99 {hour.p99_ms:.0f} ms"
        )
        parts.append(
            f"<g><title>{escape(label)}</title>"
            f'<rect x="{x + 2}" y="{height - total_h:.1f}" width="{bar - 4}"'
            f' height="{total_h:.1f}" fill="#c0392b"/>'
            f'<rect x="{x + 2}" y="{height - ok_h:.1f}" width="{bar - 4}"'
            f' height="{ok_h:.1f}" fill="#2e7d32"/></g>'
        )
        points.append(f"{x + bar / 2:.1f},{height - hour.p99_ms / slowest * (height - 10):.1f}")
    line = (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#1f4e99" stroke-width="2"/>'
        if len(points) > 1
        else ""
    )
    rate = "no attempts" if health.success_rate is None else f"{health.success_rate:.1%} delivered"
    summary = f"Last 24 hours: {health.attempts} attempts, {rate}"
    return (
        f'<svg role="img" aria-labelledby="health-title health-desc" viewBox="0 0 {width}'
        f' {height}" width="{width}" height="{height}" class="chart">'
        f'<title id="health-title">Delivery attempts per hour, last 24 hours</title>'
        f'<desc id="health-desc">{escape(summary)}. Bars: attempts per hour, green the'
        " delivered share, red the failed. Line: p99 latency.</desc>"
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>'
        f"{''.join(parts)}{line}</svg>"
    )
