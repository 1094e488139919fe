"""Prometheus metrics at /metrics (text exposition format; not part of the API schema)."""

from __future__ import annotations

from litestar import Controller, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class MetricsController(Controller):
    """The process's metrics and the collectors that read PostgreSQL at scrape time
    (projection lag, delivery counts and backlog). Collected on a worker thread: while the
    database is away those reads wait for it, and on the event loop they would hold every
    request of the process, `/healthz` included, until the scrape gave up."""

    path = "/metrics"
    include_in_schema = False

    @get(sync_to_thread=True)
    def metrics(self) -> Response[bytes]:
        return Response(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
