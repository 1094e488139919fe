"""Helpers of the audit tests: tenants with histories, and tampering in PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from domain.contact import Contact
from domain.context import Actor, Context
from syncline.runtime import Runtime


def history(runtime: Runtime, events: int = 6) -> tuple[UUID, list[Any]]:
    """A new tenant with `events` contact events (creates and updates): its id and contacts."""
    tenant = uuid4()
    ctx = Context(tenant, Actor("test", "audit"), "audit-test")
    contacts: list[Any] = []
    for i in range(events):
        if i % 2 == 0 or not contacts:
            contact, _ = runtime.app.create_record(
                Contact, ctx, {"email": f"a{i}@example.com", "name": f"Name {i}"}
            )
            contacts.append(contact)
        else:
            runtime.app.update_record(
                Contact, ctx, contacts[-1].id, lambda c, i=i: c.update(ctx, {"name": f"New {i}"})
            )
    return tenant, contacts


def events_table(runtime: Runtime) -> sql.Composable:
    recorder: Any = runtime.app.recorder
    return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)


def chain_rows(runtime: Runtime, tenant: UUID) -> list[tuple[int, int, str, bytes]]:
    """`(sequence, position, event_id, chain_hash)` of a tenant's chain."""
    with psycopg.connect(runtime.database_url) as conn:
        rows = conn.execute(
            "SELECT sequence, position, event_id, chain_hash FROM audit_chain"
            " WHERE tenant_id = %s ORDER BY sequence",
            (tenant,),
        ).fetchall()
    return [(int(s), int(p), str(e), bytes(h)) for s, p, e, h in rows]


def execute(runtime: Runtime, statement: sql.Composable | str, params: Any = ()) -> None:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]
