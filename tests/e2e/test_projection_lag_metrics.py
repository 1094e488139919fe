"""/metrics exposes each projection's lag."""

from __future__ import annotations

import httpx


def test_metrics_endpoint_shows_every_projections_lag(http: httpx.Client, caught_up) -> None:
    caught_up()
    text = http.get("/metrics").text
    for projection in ("records", "tenants", "events"):
        assert f'syncline_projection_lag_events{{projection="{projection}"}} 0.0' in text
        assert f'syncline_projection_lag_seconds{{projection="{projection}"}} 0.0' in text
