"""The OAuth 2.0 token request (RFC 6749 §4.4, client credentials), parsed without I/O.

Errors are RFC 6749 §5.2 errors (`OAuthError`), not problem details: OAuth client
libraries read `error` and `error_description` from a JSON object.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from domain.credential import SCOPES

FORM = "application/x-www-form-urlencoded"
GRANT_TYPE = "client_credentials"
MAX_FIELDS = 32
MAX_SCOPE_LENGTH = 1000
# RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR
SCOPE_SYNTAX = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="syncline", charset="UTF-8"'}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = {**NO_STORE, **(headers or {})}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401, headers=BASIC_CHALLENGE)


@dataclass(frozen=True)
class TokenRequest:
    """A well-formed client credentials request; the client is not yet authenticated."""

    client_id: str
    client_secret: str = field(repr=False)
    scope: list[str] | None
    basic: bool


def parse_token_request(
    content_type: str | None,
    body: bytes,
    authorization: str | None,
    query: str = "",
) -> TokenRequest:
    """Check the request's shape, in the order a client developer would fix it."""
    media_type, _, parameters = (content_type or "").partition(";")
    if media_type.strip().lower() != FORM:
        raise invalid_request(f"the request body must be {FORM}")
    charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", parameters, re.IGNORECASE)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8", "us-ascii"):
        raise invalid_request("the request body must be UTF-8")
    form = _parse_form(body)
    if any(name in ("client_secret", "client_id") for name, _ in _parse_query(query)):
        raise invalid_request("client credentials must not be sent in the URL")
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise invalid_request("the grant_type parameter is missing")
    if grant_type != GRANT_TYPE:
        raise OAuthError(
            "unsupported_grant_type",
            f"only grant_type={GRANT_TYPE} is supported",
        )
    client_id, client_secret, basic = _client_credentials(form, authorization)
    scope = form.get("scope")
    return TokenRequest(
        client_id, client_secret, None if scope is None else parse_scope(scope), basic
    )


def parse_scope(value: str) -> list[str]:
    """The scopes a `scope` parameter asks for, each one known (else invalid_scope)."""
    if len(value) > MAX_SCOPE_LENGTH or not SCOPE_SYNTAX.fullmatch(value):
        raise OAuthError(
            "invalid_scope",
            "scope must be space-separated scope names, such as `records:read events:read`",
        )
    requested = value.split(" ")
    for scope in requested:
        if scope not in SCOPES:
            raise OAuthError(
                "invalid_scope",
                f"unknown scope {scope[:64]!r}; known: {' '.join(SCOPES)}",
            )
    return sorted(set(requested), key=SCOPES.index)


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError included
        raise invalid_request(
            f"the request body is not a valid {FORM} document (UTF-8, at most"
            f" {MAX_FIELDS} parameters)"
        ) from None
    repeated = sorted(name for name, count in Counter(n for n, _ in pairs).items() if count > 1)
    if repeated:
        # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
        raise invalid_request(f"parameter {repeated[0][:64]!r} is given more than once")
    # RFC 6749 §3.2: a parameter sent without a value is treated as omitted.
    return {name: value for name, value in pairs if value}


def _parse_query(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise invalid_request("the URL's query string is malformed") from None


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str, bool]:
    """The client's id and secret, from HTTP Basic or the form (never both)."""
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client(
                "unsupported client authentication; use HTTP Basic or the client_id and"
                " client_secret parameters"
            )
        client_id, client_secret = _basic_credentials(credentials.strip())
        if form_secret is not None or (form_id is not None and form_id != client_id):
            raise invalid_request(
                "the client authenticated twice (HTTP Basic and form parameters); use one"
            )
        if not client_id or not client_secret:
            raise invalid_client("the Basic credentials need a client id and a secret")
        return client_id, client_secret, True
    if form_secret is not None and form_id is None:
        raise invalid_request("client_secret was given without client_id")
    if form_id is None or form_secret is None:
        raise invalid_client(
            "client authentication is missing; use HTTP Basic or the client_id and"
            " client_secret parameters"
        )
    return form_id, form_secret, False


def _basic_credentials(credentials: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: base64 of `id:secret`, each form-urlencoded first."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_request("the Basic credentials are not valid base64 of UTF-8") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise invalid_request("the Basic credentials must be `client_id:client_secret`")
    return unquote_plus(client_id), unquote_plus(client_secret)
