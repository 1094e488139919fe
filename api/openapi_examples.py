"""Realistic examples for the OpenAPI document, beside the records' own (in their schema
modules): events, the feed, webhooks, credentials, problems (see api.schemas.examples).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.schemas.contacts import CONTACT_ID
from api.schemas.examples import CREATED, PAID, TENANT, examples, page
from api.schemas.orders import ORDER, ORDER_ID
from delivery.headers import delivery_headers

WEBHOOK_ID = "0d6f4b2a-9e8c-4a1b-b3d5-7f6e5d4c3b2a"
KEY_ID = "c2a4e6f8-1b3d-4f5a-9c7e-0a2b4c6d8e0f"
CLIENT_ID = "e7f9a1b3-5c7d-4e9f-8a1b-3c5d7e9f1a2b"
REQUEST_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CURSOR = "AgHaWE_5FEp1AiRGdTj1bUQw"  # a changes-feed / event-log cursor
SCOPES = ["records:read", "records:write", "webhooks:manage", "events:read"]
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw6zRgTu6AoDE="  # noqa: S105

EVENT_ID = "evt_e7498ab0dd495dfdabd2bb87851ff693"
EVENT = {
    "id": EVENT_ID,
    "type": "order.paid",
    "occurred_at": PAID,
    "tenant_id": TENANT,
    "entity": {"type": "order", "id": ORDER_ID, "version": 4},
    "cursor": CURSOR,
    "correlation_id": REQUEST_ID,
    "actor": {"type": "api_key", "id": "sk_c2a4e6f81b3d4f5a9c7e0a2b4c6d8e0f"},
    "data": ORDER,
    "changed_fields": ["status"],
    "previous": {"status": "placed"},
}
WEBHOOK = {
    "id": WEBHOOK_ID,
    "url": "https://hooks.example.com/syncline",
    "event_types": ["contact.created", "order.*"],
    "description": "Sync paid orders to the ERP",
    "status": "active",
    "disabled_reason": None,
    "version": 1,
    "created_at": CREATED,
    "updated_at": CREATED,
}
TENANT_VIEW = {"id": TENANT, "name": "Acme", "created_at": CREATED, "status": "active"}
API_KEY = {
    "id": KEY_ID,
    "key": "sk_c2a4e6f81b3d4f5a9c7e0a2b4c6d8e0f_q8V3nZk2T0xLwYb7RmHc5uJ1sPd9eGfA4iKoNtB6yWE",
    "prefix": "sk_c2a4e6f81b3d4f5a9c7e0a2b4c6d8e0f",
    "scopes": SCOPES,
    "expires_at": None,
}
OAUTH_CLIENT = {
    "id": CLIENT_ID,
    "client_id": "cli_e7f9a1b35c7d4e9f8a1b3c5d7e9f1a2b",
    "client_secret": "cs_Z3rT8wQk1VnB5yLp0HsD7cXf2GjM9aKe6uRi4oWt1bN",
    "scopes": SCOPES,
    "expires_at": None,
}
CREDENTIAL = {
    "id": KEY_ID,
    "kind": "api_key",
    "public_id": "sk_c2a4e6f81b3d4f5a9c7e0a2b4c6d8e0f",
    "tenant_id": TENANT,
    "scopes": ["records:read", "records:write"],
    "status": "active",
    "created_at": CREATED,
    "expires_at": None,
    "revoked_at": None,
    "rotated_at": None,
}
PUBLIC_KEY = {
    "algorithm": "Ed25519",
    "public_key": "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
    "key_id": "ed25519:1b9f3c2e",
}
CHECKPOINT = {
    "tenant_id": TENANT,
    "sequence": 1204,
    "chain_hash": "9f2c4e1a7b3d5f6e8a0c2b4d6f8e0a1c3b5d7f9e1a2c4b6d8f0e2a4c6b8d0f1e",
    "signed_at": "2026-11-29T17:00:00.000000Z",
    "key_id": "ed25519:1b9f3c2e",
    "signature": "u0Zk1m8xQ2pV7sYb3nH6cJ9tL4wR5eF0aD2gK7iO1qU8zX3vB6nM9yT4rE5wS2hC0fG7jP1lA8kQ3dZ6x"
    "V9bNw==",
}
DELIVERY_BODY = f'{{"id":"{EVENT["id"]}","type":"order.paid",…}}'


def sent_headers(at: str) -> dict[str, str]:
    """The headers an attempt at `at` sends, signed with the example secret."""
    return delivery_headers(
        secrets=[WEBHOOK_SECRET],
        event_id=EVENT_ID,
        event_type="order.paid",
        correlation_id=REQUEST_ID,
        timestamp=int(datetime.fromisoformat(at).timestamp()),
        body=DELIVERY_BODY.encode(),
    )


ATTEMPT = {
    "attempted_at": PAID,
    "outcome": "delivered",
    "status_code": 200,
    "latency_ms": 84.2,
    "error": None,
}


# By component schema name (what `$ref` names); each resource's are in its schema module.
examples(
    **{
        "EventEnvelope": EVENT,
        "EventPage": page(EVENT, cursor=CURSOR),
        "ChangeHead": {"cursor": CURSOR},
        "ChangePage": {
            "data": [
                {
                    "cursor": CURSOR,
                    "resource_type": "order",
                    "id": ORDER_ID,
                    "version": 4,
                    "deleted": False,
                    "changed_at": PAID,
                    "event_type": "order.paid",
                    "data": ORDER,
                }
            ],
            "next_cursor": CURSOR,
            "has_more": False,
        },
        "WebhookCreate": {
            "url": "https://hooks.example.com/syncline",
            "event_types": ["contact.created", "order.*"],
            "description": "Sync paid orders to the ERP",
        },
        "WebhookUpdate": {"event_types": ["order.paid"], "status": "active"},
        "Webhook": WEBHOOK,
        "WebhookWithSecret": {**WEBHOOK, "secret": WEBHOOK_SECRET},
        "WebhookList": page(WEBHOOK, more=False),
        "WebhookHealth": {
            "webhook_id": WEBHOOK_ID,
            "circuit": "open",
            "held_until": "2026-11-29T16:21:03.481220Z",
            "opened_at": "2026-11-29T16:20:33.481220Z",
            "opened_times": 1,
            "consecutive_failures": 0,
            "pending": 160,
            "failing_since": "2026-11-29T16:20:03.481220Z",
            "last_success_at": CREATED,
            "last_failure_at": "2026-11-29T16:20:33.481220Z",
        },
        "SecretRotation": {"grace_period_seconds": 86400},
        "RotatedSecret": {
            "id": WEBHOOK_ID,
            "secret": WEBHOOK_SECRET,
            "previous_secret_expires_at": "2026-11-30T16:11:14.123456Z",
        },
        "DeliveryList": page(
            {
                "id": "6e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "event_id": EVENT["id"],
                "event_type": "order.paid",
                "occurred_at": PAID,
                "status": "delivered",
                "replay": False,
                "attempt_count": 1,
                "next_attempt_at": None,
                "finished_at": PAID,
                "last_error": None,
                "attempts": [ATTEMPT],
            }
        ),
        "DeliveryDetail": {
            "id": "6e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
            "event_id": EVENT["id"],
            "event_type": "order.paid",
            "occurred_at": PAID,
            "status": "delivered",
            "replay": False,
            "attempt_count": 2,
            "next_attempt_at": None,
            "finished_at": "2026-11-29T16:20:08.912004Z",
            "last_error": None,
            "attempts": [
                {
                    **ATTEMPT,
                    "outcome": "http_error",
                    "status_code": 503,
                    "latency_ms": 31.7,
                    "error": "HTTP 503",
                    "request_headers": sent_headers(PAID),
                    "response_headers": {"Content-Type": "application/json", "Retry-After": "5"},
                    "response_body": '{"error":"maintenance"}',
                    "response_body_truncated": False,
                },
                {
                    **ATTEMPT,
                    "attempted_at": "2026-11-29T16:20:08.912004Z",
                    "request_headers": sent_headers("2026-11-29T16:20:08.912004Z"),
                    "response_headers": {"Content-Type": "text/plain", "Content-Length": "2"},
                    "response_body": "ok",
                    "response_body_truncated": False,
                },
            ],
            "request_body": DELIVERY_BODY,
        },
        "WebhookStats": {
            "window_start": "2026-11-28T16:20:00Z",
            "window_end": "2026-11-29T16:20:00Z",
            "attempts": 1204,
            "delivered": 1190,
            "success_rate": 0.9884,
            "latency_p50_ms": 84.2,
            "latency_p99_ms": 412.9,
            "hourly": [
                {
                    "hour": "2026-11-29T15:00:00Z",
                    "attempts": 52,
                    "delivered": 50,
                    "success_rate": 0.9615,
                    "latency_p50_ms": 80.1,
                    "latency_p99_ms": 398.4,
                }
            ],
        },
        "ReplayRequest": {"after": CURSOR},
        "ReplayStarted": {"id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d", "enqueued": 42},
        "EventTypeList": page(
            {
                "name": "order.paid",
                "description": "An order was paid.",
                "schema": {"$ref": "#/$defs/Order", "$defs": {"Order": {"type": "object"}}},
            },
            more=False,
        ),
        "PublicKey": PUBLIC_KEY,
        "KeyList": page({**PUBLIC_KEY, "first_used_at": CREATED}, more=False),
        "CheckpointList": page(CHECKPOINT, more=False),
        "Verification": {
            "tenant_id": TENANT,
            "intact": True,
            "from_sequence": 1,
            "verified_through": 1204,
            "checkpoints_verified": 12,
            "next_from_sequence": None,
            "mismatch": None,
        },
        "TenantCreate": {"name": "Acme", "scopes": SCOPES},
        "Tenant": TENANT_VIEW,
        "TenantList": page(TENANT_VIEW),
        "Connection": {"tenant": TENANT_VIEW, "api_key": API_KEY, "oauth_client": OAUTH_CLIENT},
        "ApiKeyCreate": {"scopes": ["records:read"], "expires_at": "2027-06-30T00:00:00Z"},
        "IssuedApiKey": API_KEY,
        "OAuthClientCreate": {"scopes": ["records:read", "webhooks:manage"], "expires_at": None},
        "IssuedOAuthClient": OAUTH_CLIENT,
        "ScopesUpdate": {"scopes": ["records:read", "records:write"]},
        "Credential": CREDENTIAL,
        "CredentialList": page(CREDENTIAL),
        "CredentialHistory": page(
            {
                "type": "credential.scopes_changed",
                "occurred_at": PAID,
                "actor": {"type": "operator", "id": "admin"},
                "correlation_id": REQUEST_ID,
                "scopes": ["records:read", "records:write"],
                "previous_scopes": SCOPES,
            },
            more=False,
        ),
        "AccessToken": {
            "access_token": "at_Yp2Vh7Lq0Rk5Tn9Wb3Xc8Zd1Fg6Jm4Ns2Qe7Ur0Ta5",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "records:read webhooks:manage",
        },
    }
)

# A one-time portal or console link (api/portal/access.py); the token is an example.
PORTAL_LINK = {
    "url": "https://api.example.com/portal/session?token=psl_Xq2v9LbT0mWc4rHs7nJe1kYd5uAg8pZf3oRi6wQtE0s",
    "expires_at": "2026-11-29T16:21:14.123456Z",
}
examples(SessionLink=PORTAL_LINK)

# By operation id: success answers without a component of their own.
OPERATION_EXAMPLES: dict[str, Any] = {
    "CreateConsoleSession": {
        **PORTAL_LINK,
        "url": PORTAL_LINK["url"].replace("/portal/", "/console/"),
    },
    "TestWebhook": {
        **EVENT,
        "id": "evt_73892c952358536296813ef7e066b63c",
        "type": "webhook.ping",
        "entity": {"type": "webhook", "id": WEBHOOK_ID, "version": 2},
        "data": {**WEBHOOK, "version": 2},
        "changed_fields": [],
        "previous": {},
    },
    "ExportEvents": (
        '{"id":"evt_e7498ab0dd495dfdabd2bb87851ff693","type":"order.paid",…,'
        '"sequence":1204,"chain_hash":"9f2c…"}\n'
        '{"checkpoint":{"tenant_id":"' + TENANT + '","sequence":1204,…}}\n'
    ),
    "Healthz": {"status": "ok"},
    "Readyz": {
        "status": "ready",
        "projections": {"records": 1204, "events": 1204, "deliveries": 1204},
        "auth_cache": "notified",
    },
}


def _problem(
    status: int, title: str, slug: str | None, detail: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": f"https://syncline.dev/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "/v1/contacts",
        "correlation_id": REQUEST_ID,
        **extra,
    }


PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    400: _problem(
        400,
        "Bad request",
        "invalid-parameter",
        "limit: Expected `int` <= 1000",
        parameter="limit",
        errors=[{"field": "limit", "source": "query", "message": "Expected `int` <= 1000"}],
    ),
    401: _problem(401, "Unauthorized", "invalid-token", "the bearer token is not valid"),
    403: _problem(
        403,
        "Forbidden",
        "insufficient-scope",
        "this operation needs the records:write scope, which this credential lacks"
        " (it has: records:read)",
        required_scope="records:write",
    ),
    404: _problem(404, "Not found", "not-found", f"no contact {CONTACT_ID}"),
    409: _problem(
        409, "Conflict", "conflict", f"cannot fulfill order {ORDER_ID}: it is placed, not paid"
    ),
    412: _problem(
        412,
        "Precondition failed",
        "version-mismatch",
        f"contact {CONTACT_ID} is at version 4, not 3",
    ),
    413: _problem(413, "Request body too large", None, "the request body exceeds 1048576 bytes"),
    415: _problem(
        415,
        "Unsupported media type",
        "unsupported-media-type",
        "send the body as application/json, not text/plain",
    ),
    422: _problem(
        422,
        "Unprocessable content",
        "validation-error",
        "email: Expected `str` of length >= 3",
        errors=[{"field": "email", "source": "body", "message": "Expected `str` of length >= 3"}],
    ),
    429: _problem(
        429,
        "Too many requests",
        "rate-limited",
        "this credential is over its rate limit of 50 requests per second (bursts of 100);"
        " retry after 1 s",
    ),
    503: _problem(
        503,
        "Service unavailable",
        "database-unavailable",
        "the database is unavailable for the moment; retry shortly",
    ),
}
