"""Delivery portal schemas: one delivery with what its endpoint answered, an endpoint's
24-hour statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta

from api.schemas.common import Output
from api.schemas.webhooks import Delivery, DeliveryAttempt

Rate = Annotated[
    float | None,
    Meta(description="Delivered attempts / attempts, 0 to 1 (null without attempts)."),
]
Percentile = Annotated[
    float | None,
    Meta(description="Nearest-rank latency percentile in milliseconds (null without attempts)."),
]


class DeliveryAttemptDetail(DeliveryAttempt):
    request_headers: Annotated[
        dict[str, str] | None,
        Meta(
            description="The headers the attempt was sent with: the Standard Webhooks"
            " `webhook-id`, `webhook-timestamp` and `webhook-signature`, `X-Signature-256`"
            " (HMACs: the signing secret itself is never stored or shown), `X-Event-Type`,"
            " `X-Correlation-ID`, `Content-Type` and `User-Agent`; the HTTP client's own"
            " `Host`, `Content-Length`, `Accept` and `Accept-Encoding` are not kept. Null"
            " when nothing was sent (the address refused by the SSRF guard, no secret to"
            " sign with)."
        ),
    ]
    response_headers: Annotated[
        dict[str, str] | None,
        Meta(
            description="The answer's headers (a repeated name's values joined with `, `;"
            " at most 64, values cut at 1024 characters); null without an answer."
        ),
    ]
    response_body: Annotated[
        str | None,
        Meta(
            description="The first 4 KiB of the answer's body as text (UTF-8, invalid bytes"
            " replaced by U+FFFD): data, never markup. Null without an answer."
        ),
    ]
    response_body_truncated: Annotated[
        bool, Meta(description="The body was longer than the 4 KiB kept.")
    ]


class DeliveryDetail(Delivery):
    attempts: list[DeliveryAttemptDetail]  # type: ignore[assignment]
    request_body: Annotated[
        str,
        Meta(
            description="The body POSTed on every attempt (the event envelope), byte for byte;"
            " the signing headers change per attempt."
        ),
    ]


class HourlyStats(Output):
    hour: Annotated[datetime, Meta(description="The hour's start.")]
    attempts: int
    delivered: int
    success_rate: Rate
    latency_p50_ms: Percentile
    latency_p99_ms: Percentile


class WebhookStats(Output):
    window_start: datetime
    window_end: datetime
    attempts: Annotated[int, Meta(description="Attempts in the window (retries included).")]
    delivered: Annotated[int, Meta(description="Attempts answered with a 2xx.")]
    success_rate: Rate
    latency_p50_ms: Percentile
    latency_p99_ms: Percentile
    hourly: Annotated[
        list[HourlyStats], Meta(description="Each hour of the window with attempts, oldest first.")
    ]
