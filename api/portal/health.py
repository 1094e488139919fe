"""An endpoint's health over the last 24 hours (delivery/stats.py, as the API's
`/stats` answers it): attempts per hour, success rate and latency (p50, p99), drawn as an
inline SVG chart (no script, no chart library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from uuid import UUID

from api.services import ApiServices
from delivery.stats import endpoint_stats


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
    """The figures of `GET /v1/webhooks/{id}/stats` (none for another tenant's webhook)."""
    found = endpoint_stats(
        services.pool, tenant_id=tenant_id, subscription_id=webhook_id, now=services.clock.now()
    )
    hours = [
        Hour(h["hour"], h["attempts"], h["delivered"], h["latency_p50_ms"], h["latency_p99_ms"])
        for h in found["hourly"]
    ]
    return Health(
        found["attempts"],
        found["delivered"],
        found["latency_p50_ms"],
        found["latency_p99_ms"],
        hours,
    )


def chart(health: Health, now: datetime) -> str:
    """24 hourly bars (height: attempts; green share: delivered) and the p99 latency as a
    line, with a text title and description for screen readers."""
    width, height, bar, axis = 480, 120, 20, 16
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    by_hour = {h.start: h for h in health.hours}  # aware: equal instants are equal keys
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
        f' {height + axis}" width="{width}" height="{height + axis}" class="chart">'
        f'<title id="health-title">Delivery attempts per hour, last 24 hours</title>'
        f'<desc id="health-desc">{escape(summary)}. Bars: attempts per hour, green the'
        " delivered share, red the failed. Line: p99 latency.</desc>"
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>'
        f"{''.join(parts)}{line}"
        f'<text x="2" y="{height + 12}" font-size="10" fill="#555">{start:%H}:00</text>'
        f'<text x="{width - 2}" y="{height + 12}" font-size="10" fill="#555"'
        ' text-anchor="end">now</text>'
        f'<text x="2" y="10" font-size="10" fill="#555">{peak} attempts</text></svg>'
    )
