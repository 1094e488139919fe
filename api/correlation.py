"""Correlation ids and one structured access-log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.redaction import redact_secrets

log = logging.getLogger("syncline.access")
VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def correlation_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    return str(state.get("correlation_id", ""))


class CorrelationMiddleware:
    """Takes `X-Request-ID` / `X-Correlation-ID` (or makes one), echoes it, logs the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = (headers.get(b"x-request-id") or headers.get(b"x-correlation-id") or b"").decode(
            "latin-1"
        )
        correlation_id = given if VALID_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id  # type: ignore[typeddict-item]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "correlation_id": correlation_id,
                    "method": scope.get("method"),
                    "path": redact_secrets(str(scope.get("path", ""))),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
