"""How the operator API shows credentials: metadata, status and history, never secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from api.errors import ProblemError
from api.parameters import list_position, page_cursor
from api.schemas.admin import (
    Credential,
    CredentialChange,
    CredentialHistory,
    CredentialList,
    IssuedOAuthClient,
)
from api.services import ApiServices
from domain.credential import API_KEY_PREFIX, CLIENT_ID_PREFIX, ApiKey, OAuthClient
from domain.credential import Credential as CredentialRecord
from projections.tenants.view import TenantsView

CHANGE_TYPES = {
    "Created": "credential.created",
    "ScopesChanged": "credential.scopes_changed",
    "SecretRotated": "credential.rotated",
    "Revoked": "credential.revoked",
    "Expired": "credential.expired",
}


def credential_id(value: str, parameter: str) -> UUID:
    """A credential's id from its UUID, its key prefix (`sk_<hex>`) or client id (`cli_<hex>`)."""
    if ApiKey.parse(value) is not None:
        # Never echo it: this is a whole key, secret included.
        raise ProblemError(
            400,
            "that is a whole API key, secret included; name a key by its id or prefix only",
            slug="invalid-parameter",
            parameter=parameter,
        )
    for prefix in (API_KEY_PREFIX, CLIENT_ID_PREFIX, ""):
        if value.startswith(prefix):
            try:
                return UUID(hex=value[len(prefix) :]) if prefix else UUID(value)
            except ValueError:
                continue
    raise ProblemError(
        400,
        f"{parameter} must be a credential id (UUID), an API key prefix (sk_…) or an OAuth"
        " client id (cli_…)",
        slug="invalid-parameter",
        parameter=parameter,
    )


def issued_oauth_client(client: OAuthClient, secret: str) -> IssuedOAuthClient:
    return IssuedOAuthClient(
        id=client.id,
        client_id=client.client_id,
        client_secret=OAuthClient.client_secret(secret),
        scopes=client.scopes,
        expires_at=client.expires_at,
    )


def _public_id(credential: CredentialRecord) -> tuple[Any, str]:
    if isinstance(credential, OAuthClient):
        return "oauth_client", credential.client_id
    assert isinstance(credential, ApiKey)
    return "api_key", credential.prefix


def _status(revoked: bool, expired: bool, expires_at: datetime | None, now: datetime) -> Any:
    if revoked:
        return "revoked"
    if expired or (expires_at is not None and now >= expires_at):
        return "expired"
    return "active"


def credential_view(services: ApiServices, credential: CredentialRecord) -> Credential:
    """A credential as it is now, read from the event store."""
    kind, public_id = _public_id(credential)
    revoked_at = rotated_at = None
    for event in services.app.repository.event_store.get(credential.id):
        if isinstance(event, CredentialRecord.Revoked):
            revoked_at = event.timestamp
        elif isinstance(event, CredentialRecord.SecretRotated):
            rotated_at = event.timestamp
    return Credential(
        id=credential.id,
        kind=kind,
        public_id=public_id,
        tenant_id=credential.tenant_id,
        scopes=list(credential.scopes),
        status=_status(
            credential.revoked, credential.expired, credential.expires_at, services.clock.now()
        ),
        created_at=credential.created_on,
        expires_at=credential.expires_at,
        revoked_at=revoked_at,
        rotated_at=rotated_at,
    )


def credential_history(services: ApiServices, credential_id: UUID) -> CredentialHistory:
    changes = []
    events: list[Any] = list(services.app.repository.event_store.get(credential_id))
    for event in events:
        kind = CHANGE_TYPES.get(type(event).__name__)
        if kind is None:
            continue
        meta = getattr(event, "meta", {})
        changes.append(
            CredentialChange(
                type=kind,  # type: ignore[arg-type]
                occurred_at=event.timestamp,
                actor=dict(meta.get("actor", {})),
                correlation_id=str(meta.get("correlation_id", "")),
                scopes=getattr(event, "scopes", None),
                previous_scopes=getattr(event, "previous", None),
            )
        )
    return CredentialHistory(data=changes, next_cursor=None, has_more=False)


def credential_page(
    services: ApiServices, tenant_id: UUID, *, limit: int, cursor: str | None
) -> CredentialList:
    """A page of the tenant's credentials from the read model, oldest first."""
    after = None
    if cursor is not None:
        after = list_position(services, "credentials", tenant_id, cursor, 2)
    page = TenantsView(services.pool).credentials(tenant_id, after=after, limit=limit)
    now = services.clock.now()
    data = [
        Credential(
            id=row.id,
            kind=row.kind,  # type: ignore[arg-type]
            public_id=row.public_id,
            tenant_id=row.tenant_id,
            scopes=row.scopes,
            status=_status(
                row.revoked_at is not None, row.expired_at is not None, row.expires_at, now
            ),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            rotated_at=row.rotated_at,
        )
        for row in page.items
    ]
    next_cursor = page_cursor(services, "credentials", tenant_id, page)
    return CredentialList(data=data, next_cursor=next_cursor, has_more=page.has_more)
