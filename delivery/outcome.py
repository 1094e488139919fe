"""What one delivery attempt came to: the `Outcome` type, and how an HTTP exchange (an answer's
status, or the error that came instead) is classified. Pure; when to try again is the
retry schedule's business (`delivery.retry`)."""

from __future__ import annotations

from typing import Literal, get_args

import aiohttp
import msgspec

from delivery.secret_box import SecretUnavailableError
from delivery.signing import InvalidSecretError
from delivery.ssrf import ForbiddenTargetError

Outcome = Literal[
    "delivered",  # a 2xx answer
    "http_error",  # any other status but 410 (3xx included: redirects are not followed)
    "gone",  # 410: the webhook is disabled
    "timeout",  # no answer within the timeout
    "connection_error",  # no connection, or it broke
    "refused",  # the SSRF guard refused the target, or the webhook no longer exists
    "unsignable",  # the secret cannot be opened (the server key changed)
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

DELIVERED: Outcome = "delivered"
GONE: Outcome = "gone"
MAX_ERROR_CHARS = 500


def moves_on(outcome: Outcome) -> bool:
    """Whether the delivery is finished whatever the schedule says: delivered, or gone
    (a 410 disables the webhook). Any other outcome is retried while the schedule allows."""
    return outcome in (DELIVERED, GONE)


class Verdict(msgspec.Struct, frozen=True):
    """An attempt's classification: its outcome, the answer's status, an error text."""

    outcome: Outcome
    status_code: int | None = None
    error: str | None = None


def of_status(status: int) -> Verdict:
    """The verdict on an answer with this HTTP status."""
    if 200 <= status < 300:
        return Verdict(DELIVERED, status)
    if status == 410:
        return Verdict(GONE, status, "410 Gone: the webhook is disabled")
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return Verdict("http_error", status, error)


def of_error(exc: BaseException, timeout: float) -> Verdict | None:
    """The verdict on an attempt that got no answer, or None if `exc` is not one a delivery
    may meet (a bug: let it propagate)."""
    if isinstance(exc, ForbiddenTargetError):
        return Verdict("refused", error=error_text(exc))
    if isinstance(exc, SecretUnavailableError | InvalidSecretError):
        return Verdict("unsignable", error=error_text(exc))
    if isinstance(exc, TimeoutError):
        return Verdict("timeout", error=f"no answer within {timeout:g} s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ForbiddenTargetError):
            return Verdict("refused", error=error_text(exc.os_error))
        return Verdict("connection_error", error=error_text(exc))
    if isinstance(exc, aiohttp.ClientError | OSError | ValueError):
        return Verdict("connection_error", error=error_text(exc))
    return None


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:MAX_ERROR_CHARS]
