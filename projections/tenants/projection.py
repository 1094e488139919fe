"""TenantsProjection: tenants and credential metadata for the operator's listings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.credential import ApiKey, Credential, OAuthClient
from domain.event_classes import instance_of
from domain.tenant import Tenant
from projections.protocol import SelectiveProjection

# What this projection reads; every other event (most of the log) is passed over.
_TENANT_OR_CREDENTIAL = instance_of(
    Tenant.Created,
    Tenant.Suspended,
    Tenant.Reactivated,
    Credential.Created,
    Credential.Revoked,
    Credential.SecretRotated,
    Credential.ScopesChanged,
    Credential.Expired,
)


class TenantsProjection(SelectiveProjection):
    name = "tenants"
    inline = True  # written with its events by the group commit (syncline.inline)
    # The operator's listings; in a backlog the change feed and webhooks go first
    # (CatchUpOrder). Authentication reads credentials from the event store, not here.
    catches_up_later = True

    def reads(self, event: Any) -> bool:
        """Whether `event` is a tenant's or a credential's: every other event is passed over."""
        return _TENANT_OR_CREDENTIAL(event)

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for _, event in events:
            if not _TENANT_OR_CREDENTIAL(event):
                continue
            if isinstance(event, Tenant.Created):
                cur.execute(
                    "INSERT INTO tenants (id, name, status, created_at)"
                    " VALUES (%s, %s, 'active', %s) ON CONFLICT (id) DO NOTHING",
                    (event.originator_id, event.name, event.timestamp),
                )
            elif isinstance(event, Tenant.Suspended | Tenant.Reactivated):
                status = "suspended" if isinstance(event, Tenant.Suspended) else "active"
                cur.execute(
                    "UPDATE tenants SET status = %s WHERE id = %s", (status, event.originator_id)
                )
            elif isinstance(event, Credential.Created):
                kind, public_id = _public_id(event)
                cur.execute(
                    "INSERT INTO credentials (id, tenant_id, kind, public_id, scopes, expires_at,"
                    " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (
                        event.originator_id,
                        event.tenant_id,
                        kind,
                        public_id,
                        event.scopes,
                        event.expires_at,
                        event.timestamp,
                    ),
                )
            elif isinstance(event, Credential.Revoked):
                cur.execute(
                    "UPDATE credentials SET revoked_at = %s WHERE id = %s",
                    (event.timestamp, event.originator_id),
                )
            elif isinstance(event, Credential.SecretRotated):
                cur.execute(
                    "UPDATE credentials SET rotated_at = %s WHERE id = %s",
                    (event.timestamp, event.originator_id),
                )
            elif isinstance(event, Credential.ScopesChanged):
                cur.execute(
                    "UPDATE credentials SET scopes = %s WHERE id = %s",
                    (event.scopes, event.originator_id),
                )
            elif isinstance(event, Credential.Expired):
                cur.execute(
                    "UPDATE credentials SET expired_at = %s WHERE id = %s",
                    (event.timestamp, event.originator_id),
                )

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE tenants, credentials")


def _public_id(event: Any) -> tuple[str, str]:
    if isinstance(event, OAuthClient.Created):
        return "oauth_client", f"cli_{event.originator_id.hex}"
    assert isinstance(event, ApiKey.Created)
    return "api_key", f"sk_{event.originator_id.hex}"
