"""The token request's shape, checked without I/O (RFC 6749 §2.3.1, §3.2, §3.3, §4.4)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.oauth import OAuthError, parse_scope, parse_token_request
from domain.credential import SCOPES

FORM = "application/x-www-form-urlencoded"
GOOD = {"grant_type": "client_credentials", "client_id": "cli_x", "client_secret": "cs_y"}


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def error_of(*args: object, **kwargs: object) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        parse_token_request(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_form_fields_authenticate_the_client() -> None:
    request = parse_token_request(FORM, urlencode(GOOD).encode(), None)
    assert (request.client_id, request.client_secret, request.basic) == ("cli_x", "cs_y", False)
    assert request.scope is None
    assert "cs_y" not in repr(request)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "multipart/form-data; boundary=x", FORM + "x"],
)
def test_a_body_that_is_not_a_form_is_invalid_request(content_type: str | None) -> None:
    error = error_of(content_type, urlencode(GOOD).encode(), None)
    assert (error.error, error.status) == ("invalid_request", 400)
    assert error.headers["Cache-Control"] == "no-store"


def test_content_type_parameters_are_understood() -> None:
    body = urlencode(GOOD).encode()
    assert parse_token_request(FORM.upper() + "; charset=UTF-8", body, None).client_id == "cli_x"
    assert error_of(FORM + "; charset=ISO-8859-1", body, None).error == "invalid_request"


@given(st.sampled_from(["grant_type", "client_id", "client_secret", "scope"]), st.text())
def test_a_repeated_parameter_is_invalid_request(name: str, value: str) -> None:
    body = urlencode(GOOD) + "&" + urlencode({name: value})
    if name not in GOOD:
        body += "&" + urlencode({name: value})
    error = error_of(FORM, body.encode(), None)
    assert error.error == "invalid_request"
    assert name in error.description


@pytest.mark.parametrize(
    "body",
    [b"grant_type", b"grant_type=client_credentials&&x=1", b"a=%FF", "é=1".encode(), b"=x"],
)
def test_a_malformed_form_is_invalid_request(body: bytes) -> None:
    assert error_of(FORM, body, None).error == "invalid_request"


def test_too_many_parameters_is_invalid_request() -> None:
    body = urlencode({**GOOD, **{f"p{i}": "1" for i in range(40)}}).encode()
    assert error_of(FORM, body, None).error == "invalid_request"


def test_a_missing_grant_type_is_invalid_request_and_another_is_unsupported() -> None:
    without = {k: v for k, v in GOOD.items() if k != "grant_type"}
    assert error_of(FORM, urlencode(without).encode(), None).error == "invalid_request"
    for grant in ("password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"):
        body = urlencode({**GOOD, "grant_type": grant}).encode()
        error = error_of(FORM, body, None)
        assert (error.error, error.status) == ("unsupported_grant_type", 400)


def test_a_parameter_without_a_value_counts_as_omitted() -> None:
    body = urlencode({**GOOD, "scope": "", "unknown": ""}).encode()
    assert parse_token_request(FORM, body, None).scope is None
    body = urlencode({**GOOD, "grant_type": ""}).encode()
    assert error_of(FORM, body, None).error == "invalid_request"


@given(st.text(min_size=1), st.text(min_size=1))
def test_basic_credentials_are_form_urlencoded_then_base64(client_id: str, secret: str) -> None:
    body = b"grant_type=client_credentials"
    request = parse_token_request(FORM, body, basic(client_id, secret))
    assert (request.client_id, request.client_secret, request.basic) == (client_id, secret, True)


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic \xff"],
)
def test_undecodable_basic_credentials_are_invalid_request(header: str) -> None:
    assert error_of(FORM, b"grant_type=client_credentials", header).error == "invalid_request"


@pytest.mark.parametrize("header", ["Bearer sk_abc", "Digest x", "token"])
def test_another_authentication_scheme_is_invalid_client(header: str) -> None:
    error = error_of(FORM, b"grant_type=client_credentials", header)
    assert (error.error, error.status) == ("invalid_client", 401)
    assert error.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize(("client_id", "secret"), [("cli_x", ""), ("", "cs_y"), ("", "")])
def test_basic_with_an_empty_part_is_invalid_client(client_id: str, secret: str) -> None:
    error = error_of(FORM, b"grant_type=client_credentials", basic(client_id, secret))
    assert (error.error, error.status) == ("invalid_client", 401)


def test_two_authentication_methods_are_invalid_request() -> None:
    header = basic("cli_x", "cs_y")
    both = urlencode(GOOD).encode()
    assert error_of(FORM, both, header).error == "invalid_request"
    other_id = urlencode({"grant_type": "client_credentials", "client_id": "cli_z"}).encode()
    assert error_of(FORM, other_id, header).error == "invalid_request"
    same_id = urlencode({"grant_type": "client_credentials", "client_id": "cli_x"}).encode()
    assert parse_token_request(FORM, same_id, header).basic is True


def test_missing_client_authentication_is_invalid_client() -> None:
    only_grant = b"grant_type=client_credentials"
    assert error_of(FORM, only_grant, None).error == "invalid_client"
    no_secret = urlencode({"grant_type": "client_credentials", "client_id": "cli_x"}).encode()
    assert error_of(FORM, no_secret, None).error == "invalid_client"
    no_id = urlencode({"grant_type": "client_credentials", "client_secret": "cs_y"}).encode()
    assert error_of(FORM, no_id, None).error == "invalid_request"


def test_client_credentials_in_the_url_are_invalid_request() -> None:
    body = urlencode(GOOD).encode()
    assert error_of(FORM, body, None, "client_secret=cs_y").error == "invalid_request"
    assert parse_token_request(FORM, body, None, "unrelated=1").client_id == "cli_x"


def test_scope_narrows_to_known_scopes_in_a_stable_order() -> None:
    assert parse_scope("events:read records:read records:read") == ["records:read", "events:read"]


@pytest.mark.parametrize(
    "scope",
    [
        "admin",
        "records:read  records:write",
        " records:read",
        "records:read\trecords:write",
        'records:"read"',
        "records:read " * 200,
        "records:*",
        "x" * 5000,
    ],
)
def test_malformed_unknown_or_absurd_scopes_are_invalid_scope(scope: str) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_scope(scope)
    assert caught.value.error == "invalid_scope"
    assert len(caught.value.description) < 200


@given(st.text(max_size=300))
def test_any_scope_parses_to_known_scopes_or_is_invalid_scope(scope: str) -> None:
    outcome: list[str] | str
    try:
        outcome = parse_scope(scope)
    except OAuthError as error:
        outcome = error.error
    if isinstance(outcome, str):
        assert outcome == "invalid_scope"
    else:
        assert outcome
        assert set(outcome) <= set(SCOPES)
