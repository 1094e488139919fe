"""How an attempt is classified (pure), and the one place a delivery's headers are built."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from delivery.headers import USER_AGENT, delivery_headers
from delivery.outcome import OUTCOMES, Verdict, moves_on, of_error, of_status
from delivery.secret_box import SecretUnavailableError
from delivery.signing import InvalidSecretError
from delivery.ssrf import ForbiddenTargetError
from domain.webhook import new_webhook_secret


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict("delivered", 200)),
        (204, Verdict("delivered", 204)),
        (302, Verdict("http_error", 302, "HTTP 302 (redirects are not followed)")),
        (410, Verdict("gone", 410, "410 Gone: the webhook is disabled")),
        (429, Verdict("http_error", 429, "HTTP 429")),
        (503, Verdict("http_error", 503, "HTTP 503")),
    ],
)
def test_an_answer_is_classified_by_its_status(status: int, verdict: Verdict) -> None:
    assert of_status(status) == verdict


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (TimeoutError(), "timeout"),
        (ForbiddenTargetError("127.0.0.1 is a loopback address"), "refused"),
        (SecretUnavailableError("sealed under another key"), "unsignable"),
        (InvalidSecretError("not base64"), "unsignable"),
        (ConnectionResetError("reset by peer"), "connection_error"),
        (ValueError("bad URL"), "connection_error"),
    ],
)
def test_an_attempt_without_an_answer_is_classified_by_its_error(
    exc: BaseException, outcome: str
) -> None:
    verdict = of_error(exc, timeout=2.5)
    assert verdict is not None
    assert (verdict.outcome, verdict.status_code) == (outcome, None)
    assert verdict.error
    if outcome == "timeout":
        assert verdict.error == "no answer within 2.5 s"


def test_an_unexpected_error_is_not_an_outcome() -> None:
    assert of_error(KeyError("a bug"), timeout=1) is None


def test_only_delivered_and_gone_move_a_queue_on_whatever_the_schedule() -> None:
    assert [o for o in OUTCOMES if moves_on(o)] == ["delivered", "gone"]


def test_every_header_of_a_delivery_comes_from_one_builder() -> None:
    secret, body = new_webhook_secret(), b'{"id": "evt_1"}'
    headers = delivery_headers(
        secrets=[secret],
        event_id="evt_1",
        event_type="contact.created",
        correlation_id="req-1",
        timestamp=int(time.time()),
        body=body,
    )
    assert set(headers) == {
        "Content-Type",
        "User-Agent",
        "X-Event-Type",
        "X-Correlation-ID",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-Signature-256",
    }
    assert (headers["User-Agent"], headers["X-Event-Type"], headers["X-Correlation-ID"]) == (
        USER_AGENT,
        "contact.created",
        "req-1",
    )
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1"}
