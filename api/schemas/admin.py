"""Operator schemas: tenants and the credentials of an org-activated connection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar.openapi.spec import Example
from litestar.params import Parameter
from msgspec import Meta

from api.schemas.common import HasMore, Input, NextCursor, Output
from domain.credential import SCOPES
from domain.tenant import MAX_NAME
from projections.tenants.search import MAX_QUERY

Scope = Literal["records:read", "records:write", "webhooks:manage", "events:read"]
ALL_SCOPES: list[Scope] = ["records:read", "records:write", "webhooks:manage", "events:read"]
Scopes = Annotated[list[Scope], Meta(min_length=1, max_length=len(SCOPES))]


class TenantCreate(Input):
    name: Annotated[str, Meta(min_length=1, max_length=MAX_NAME, examples=["Acme"])]
    scopes: Scopes = msgspec.field(default_factory=lambda: list(ALL_SCOPES))


class Tenant(Output):
    id: UUID
    name: str
    created_at: datetime
    status: Literal["active", "suspended"] = "active"


class TenantList(Output):
    data: list[Tenant]
    next_cursor: NextCursor
    has_more: HasMore


class IssuedApiKey(Output):
    id: UUID
    key: Annotated[str, Meta(description="The bearer token. Shown only in this answer.")]
    prefix: Annotated[str, Meta(description="Public, non-secret identifier of the key.")]
    scopes: list[str]
    expires_at: datetime | None = None


class IssuedOAuthClient(Output):
    id: UUID
    client_id: Annotated[str, Meta(description="Public identifier of the client (`cli_…`).")]
    client_secret: Annotated[str, Meta(description="Shown only in this answer.")]
    scopes: list[str]
    expires_at: datetime | None = None


class Connection(Output):
    """An org-activated connection: the tenant and credentials to configure an integration."""

    tenant: Tenant
    api_key: IssuedApiKey
    oauth_client: IssuedOAuthClient


class ApiKeyCreate(Input):
    scopes: Scopes
    expires_at: datetime | None = None


class OAuthClientCreate(Input):
    scopes: Scopes
    expires_at: datetime | None = None


class ScopesUpdate(Input):
    scopes: Scopes


class Credential(Output):
    """A credential's public metadata; its secret is never shown again."""

    id: UUID
    kind: Literal["api_key", "oauth_client"]
    public_id: Annotated[
        str, Meta(description="The key's prefix (`sk_…`) or the OAuth client id (`cli_…`).")
    ]
    tenant_id: UUID
    scopes: list[str]
    status: Literal["active", "revoked", "expired"]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None


class CredentialList(Output):
    data: list[Credential]
    next_cursor: NextCursor
    has_more: HasMore


class CredentialChange(Output):
    """One lifecycle event of a credential: what happened, when, by whom, in which request."""

    type: Literal[
        "credential.created",
        "credential.scopes_changed",
        "credential.rotated",
        "credential.revoked",
        "credential.expired",
    ]
    occurred_at: datetime
    actor: dict[str, str]
    correlation_id: str
    scopes: list[str] | None = None
    previous_scopes: list[str] | None = None


class CredentialHistory(Output):
    data: list[CredentialChange]
    next_cursor: NextCursor
    has_more: HasMore


# `GET /admin/tenants?q=`: a name or id prefix (projections/tenants/search.py).
TenantQuery = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=MAX_QUERY,
        pattern=r"^[^\x00]*\S[^\x00]*$",
        description="Only tenants whose name starts with this, ignoring case, or whose"
        " id starts with it (hex digits; dashes optional).",
        examples=[Example(value="acme")],
    ),
]
