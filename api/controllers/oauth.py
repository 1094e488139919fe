"""OAuthController: `POST /oauth/token`, the client credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from anyio import to_thread
from litestar import Controller, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from msgspec import Meta

from api.access_tokens import ACCESS_TOKEN_PREFIX
from api.oauth import (
    FORM,
    NO_STORE,
    OAuthError,
    TokenRequest,
    invalid_client,
    invalid_request,
    parse_token_request,
)
from api.openapi_docs import RATE_LIMIT_HEADERS, ApiOperation
from api.rate_limit import RateLimitDecision
from api.schemas.common import Output
from api.schemas.problem import problems
from api.services import ApiServices
from domain.credential import OAuthClient
from domain.errors import RecordNotFoundError


class AccessToken(Output):
    access_token: Annotated[
        str, Meta(description=f"Opaque bearer token (`{ACCESS_TOKEN_PREFIX}…`).")
    ]
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, Meta(description="Seconds until the token expires.")]
    scope: Annotated[str, Meta(description="The token's scopes, space-separated.")]


class OAuthErrorBody(Output):
    """An RFC 6749 §5.2 error (this endpoint does not answer problem details)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "slow_down",
    ]
    error_description: str


def _property(description: str, **extra: Any) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description, **extra)


def _error(error: str, description: str) -> list[Example]:
    return [Example(summary=error, value={"error": error, "error_description": description})]


def _error_response(description: str, *errors: tuple[str, str]) -> ResponseSpec:
    examples = [example for error in errors for example in _error(*error)]
    return ResponseSpec(
        OAuthErrorBody, description=description, generate_examples=False, examples=examples
    )


@dataclass
class TokenOperation(ApiOperation):
    """The token endpoint reads its form itself (to enforce RFC 6749's rules on duplicated
    parameters and client authentication), so its request body is described here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={
                FORM: OpenAPIMediaType(
                    example={
                        "grant_type": "client_credentials",
                        "scope": "records:read webhooks:manage",
                    },
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["grant_type"],
                        properties={
                            "grant_type": _property(
                                "Always `client_credentials`.", enum=["client_credentials"]
                            ),
                            "scope": _property(
                                "Space-separated scopes to narrow the token to (default: all"
                                " of the client's scopes)."
                            ),
                            "client_id": _property("The client id, when not sent by HTTP Basic."),
                            "client_secret": _property(
                                "The client secret, when not sent by HTTP Basic."
                            ),
                        },
                    ),
                )
            },
        )
        super().__post_init__()


class OAuthController(Controller):
    path = "/oauth"
    tags = ["OAuth"]

    @post(
        "/token",
        operation_id="IssueAccessToken",
        summary="Get an access token",
        response_description="A bearer access token and how long it lasts.",
        response_headers=RATE_LIMIT_HEADERS,
        status_code=200,
        # HTTP Basic, or `client_id` and `client_secret` in the form: OpenAPI has no scheme
        # for credentials in a request body, so that alternative is the empty requirement.
        security=[{"OAuthClientBasic": []}, {}],
        operation_class=TokenOperation,
        responses={
            400: _error_response(
                "An RFC 6749 §5.2 error.",
                ("invalid_request", "send grant_type=client_credentials, form-encoded"),
                ("invalid_scope", "the client is not granted events:read"),
                ("unauthorized_client", "this client's tenant is suspended"),
            ),
            401: _error_response(
                "`invalid_client`.",
                (
                    "invalid_client",
                    "client authentication failed (unknown client, wrong secret,"
                    " or a revoked or expired client)",
                ),
            ),
            429: _error_response(
                "`slow_down`: over the rate limit.",
                ("slow_down", "this client is over its rate limit; retry after 1 s"),
            ),
            **problems(503),
        },
    )
    async def token(self, request: Request[Any, Any, Any], services: ApiServices) -> AccessToken:
        """Exchange an OAuth client's credentials for an access token (client credentials
        grant, RFC 6749 §4.4).

        Send `grant_type=client_credentials` form-encoded, and authenticate the client with
        HTTP Basic (`client_id:client_secret`, each form-urlencoded, RFC 6749 §2.3.1) or with
        `client_id` and `client_secret` form fields — not both. `scope` (space-separated)
        may narrow the token to some of the client's scopes. Use the answer's `access_token`
        as `Authorization: Bearer …` until `expires_in` seconds pass, then ask again.

        Errors are RFC 6749 §5.2 JSON objects (`error`, `error_description`), not problem
        details: `invalid_request` (malformed, wrong content type, duplicated parameter, two
        authentication methods), `invalid_client` (401: unknown client, wrong secret,
        revoked or expired client), `unauthorized_client` (the client's tenant is suspended),
        `unsupported_grant_type`, `invalid_scope`, and `slow_down` (429, over the client's
        rate limit, with `Retry-After`). A 503 (the database is unavailable for the moment,
        with `Retry-After`) is a problem detail, as elsewhere in the API."""
        body = await request.body()
        try:
            authorizations = request.headers.getall("authorization", [])
            if len(authorizations) > 1:
                raise invalid_request("the Authorization header is given more than once")
            token_request = parse_token_request(
                request.headers.get("content-type"),
                body,
                authorizations[0] if authorizations else None,
                request.scope.get("query_string", b"").decode("latin-1"),
            )
            answer, decision = await to_thread.run_sync(grant, services, token_request)
        except OAuthError as error:
            return Response(  # type: ignore[return-value]
                error.body(), status_code=error.status, headers=error.headers
            )
        headers = {**NO_STORE, **(decision.headers() if decision else {})}
        return Response(answer, headers=headers)  # type: ignore[return-value]


def grant(
    services: ApiServices, request: TokenRequest
) -> tuple[AccessToken, RateLimitDecision | None]:
    """Authenticate the client, settle the scopes, and mint the token."""
    now = services.clock.now()
    client_uuid = OAuthClient.parse_client_id(request.client_id)
    client = services.app.get_credential(client_uuid) if client_uuid else None
    if not isinstance(client, OAuthClient) or not client.verify_client_secret(
        request.client_secret, now
    ):
        raise invalid_client(
            "client authentication failed (unknown client, wrong secret, or a revoked or"
            " expired client)"
        )
    try:
        suspended = services.app.get_tenant(client.tenant_id).status != "active"
    except RecordNotFoundError:
        suspended = True
    if suspended:
        raise OAuthError(
            "unauthorized_client",
            "this client's tenant is suspended; the operator can reactivate it",
        )
    scopes = list(client.scopes) if request.scope is None else request.scope
    beyond = [scope for scope in scopes if scope not in client.scopes]
    if beyond:
        raise OAuthError(
            "invalid_scope",
            f"the client is not granted {beyond[0]}; it may ask for {' '.join(client.scopes)}",
        )
    decision = None
    if services.rate_limiter.enabled:
        decision = services.rate_limiter.take(str(client.id))
        if not decision.allowed:
            raise OAuthError(
                "slow_down",
                f"this client is over its rate limit; retry after {decision.retry_after_seconds} s",
                status=429,
                headers=decision.headers(),
            )
    token, expires_at = services.access_tokens.mint(client, scopes, now)
    answer = AccessToken(
        access_token=token,
        token_type="Bearer",  # noqa: S106
        expires_in=max(0, math.floor((expires_at - now).total_seconds())),
        scope=" ".join(scopes),
    )
    return answer, decision
