"""Webhook signatures: our signer against the Standard Webhooks test vector and library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from delivery.signing import InvalidSecretError, signature_headers, signing_key
from domain.webhook import new_webhook_secret


def test_signer_reproduces_the_standard_webhooks_test_vector() -> None:
    # The published vector (standard-webhooks/standard-webhooks, libraries/*/tests).
    headers = signature_headers(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(signing_key(secret)) == 32
    assert secret != new_webhook_secret()


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "whsec_@@@@"])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(InvalidSecretError):
        signing_key(secret)


@given(
    body=st.binary(max_size=2000).map(lambda b: base64.b64encode(b)),
    msg_id=st.from_regex(r"evt_[0-9a-f]{32}", fullmatch=True),
)
def test_the_reference_library_verifies_what_we_sign(body: bytes, msg_id: str) -> None:
    secret = new_webhook_secret()
    headers = signature_headers([secret], msg_id, int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)
    expected = hmac.new(signing_key(secret), body, hashlib.sha256).hexdigest()
    assert headers["X-Signature-256"] == f"sha256={expected}"


def test_during_rotation_either_secret_verifies_and_others_do_not() -> None:
    new, old, stranger = new_webhook_secret(), new_webhook_secret(), new_webhook_secret()
    body = b'{"id": "evt_1"}'
    headers = signature_headers([new, old], "evt_1", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    # X-Signature-256 is made with the current secret only.
    current = hmac.new(signing_key(new), body, hashlib.sha256).hexdigest()
    assert headers["X-Signature-256"] == f"sha256={current}"


def test_a_changed_body_does_not_verify() -> None:
    secret = new_webhook_secret()
    headers = signature_headers([secret], "evt_1", int(time.time()), b'{"total": 100}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"total": 1000}', headers)
