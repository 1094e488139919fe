"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from api.openapi_docs import ApiOperation
from api.services import ApiServices


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
        """Readiness: PostgreSQL answers, with each projection's position. `auth_cache` is
        `notified` while credential changes reach this process as they commit, `timed` while
        its listening session is down (then they take up to 5 s)."""
        try:
            with services.pool.connection(timeout=2) as conn:
                rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
        except Exception as exc:  # any failure to reach the database means not ready
            return Response({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
        auth_cache = "notified" if services.authenticator.notified else "timed"
        return Response({"status": "ready", "projections": dict(rows), "auth_cache": auth_cache})
