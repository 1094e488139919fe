"""The headers of a delivery, built in one place: the Standard Webhooks `webhook-*` trio and
`X-Signature-256` (`delivery.signing`), the event's type and correlation id, the content type
and our User-Agent. A new header is a line here (and, if it comes from the event, a column
the claim reads: `delivery.queue.Claim`)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version

from delivery.signing import signature_headers

USER_AGENT = f"Syncline-Webhooks/{version('syncline')}"


def delivery_headers(
    *,
    secrets: Sequence[str],
    event_id: str,
    event_type: str,
    correlation_id: str,
    timestamp: int,
    body: bytes,
) -> dict[str, str]:
    """Every header one POST of a delivery carries. `secrets` lists the current secret
    first, then any still in a rotation's grace period (each adds a signature)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Type": event_type,
        "X-Correlation-ID": correlation_id,
        **signature_headers(secrets, event_id, timestamp, body),
    }
