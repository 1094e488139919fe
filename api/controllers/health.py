"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Response, get

from api.openapi_docs import ApiOperation
from api.services import ApiServices
from projections import tracking
from projections.lag import measure_lag

log = logging.getLogger(__name__)


class HealthController(Controller):
    tags = ["Operations"]
    include_in_schema = True

    @get(
        "/healthz",
        operation_id="Healthz",
        summary="Liveness probe",
        response_description="The process answers.",
        operation_class=ApiOperation,
    )
    async def healthz(self) -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @get(
        "/readyz",
        operation_id="Readyz",
        summary="Readiness probe",
        response_description="Ready: the database answers; each projection's position.",
        sync_to_thread=True,
        operation_class=ApiOperation,
    )
    def readyz(self, services: ApiServices) -> Response[dict[str, Any]]:
        """Readiness: this process can serve, that is PostgreSQL answers (else a 503).

        A 200 either way about the projections, whose runners live in worker processes
        (one slow worker must not take every API process out of rotation): `status` is
        `degraded` when any projection is failing (`failing`: seconds since it started
        failing) or its oldest unprocessed event has waited longer than
        SYNCLINE_LAG_ALERT_SECONDS (`lagging`: that wait in seconds), as /metrics shows;
        `ready` otherwise (`lag_error` names what stopped lag being measured, if anything).
        `projections` holds each projection's position. `auth_cache` is
        `notified` while credential changes reach this process as they commit (an
        operator's change returns once this process has applied it), `timed` while its
        listening session is down (then a change takes up to 5 s to reach it)."""
        try:
            rows = tracking.states(services.pool, timeout=2)
        except Exception as exc:  # any failure to reach the database means not ready
            return Response({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
        failing = {name: round(float(since), 3) for name, _, since in rows if since is not None}
        body: dict[str, Any] = {"projections": {name: position for name, position, _ in rows}}
        try:
            lags = measure_lag(services.pool, services.app)
        except Exception as exc:  # e.g. an event that cannot be decoded: still serving
            log.warning("could not measure projection lag", exc_info=True)
            body["lag_error"] = type(exc).__name__
            lags = []
        lagging = {
            lag.projection: round(lag.seconds_behind, 3)
            for lag in lags
            if lag.seconds_behind > services.lag_alert_seconds
        }
        degraded = failing or lagging or "lag_error" in body
        auth_cache = "notified" if services.authenticator.notified else "timed"
        return Response(
            {
                "status": "degraded" if degraded else "ready",
                **body,
                "failing": failing,
                "lagging": lagging,
                "auth_cache": auth_cache,
            }
        )
