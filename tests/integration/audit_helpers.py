"""Helpers of the audit tests: tenants with histories, and tampering in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from domain.contact import Contact
from domain.context import Actor, Context
from syncline.runtime import Runtime


def history(
    runtime: Runtime, events: int = 6, tenant: UUID | None = None
) -> tuple[UUID, list[Any]]:
    """`events` contact events (creates and updates) of a new tenant (or of `tenant`): the
    tenant's id and the contacts."""
    tenant = tenant or uuid4()
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


def set_chain(runtime: Runtime, tenant: UUID, hashes: Iterable[tuple[int, bytes]]) -> None:
    """Write these `(sequence, chain_hash)` into a tenant's recorded chain (a rewrite, or
    putting one back)."""
    for sequence, hashed in hashes:
        execute(
            runtime,
            "UPDATE audit_chain SET chain_hash = %s WHERE tenant_id = %s AND sequence = %s",
            (hashed, tenant, sequence),
        )


def execute(runtime: Runtime, statement: sql.Composable | str, params: Any = ()) -> None:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[arg-type]


def stored_row(runtime: Runtime, position: int) -> tuple[Any, ...]:
    with psycopg.connect(runtime.database_url) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM {} WHERE notification_id = %s"
            ).format(events_table(runtime)),
            (position,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def insert_row(runtime: Runtime, row: tuple[Any, ...]) -> None:
    execute(
        runtime,
        sql.SQL(
            "INSERT INTO {} (notification_id, originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(events_table(runtime)),
        row,
    )


def delete_row(runtime: Runtime, position: int) -> None:
    execute(
        runtime,
        sql.SQL("DELETE FROM {} WHERE notification_id = %s").format(events_table(runtime)),
        (position,),
    )


def set_state(runtime: Runtime, position: int, state: bytes) -> None:
    execute(
        runtime,
        sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(
            events_table(runtime)
        ),
        (state, position),
    )


def swap_positions(runtime: Runtime, first: int, second: int) -> None:
    """Exchange two stored events' places in the log (their notification ids)."""
    table = events_table(runtime)
    with psycopg.connect(runtime.database_url) as conn, conn.transaction():
        for old, new in ((first, -1), (second, first), (-1, second)):
            conn.execute(
                sql.SQL("UPDATE {} SET notification_id = %s WHERE notification_id = %s").format(
                    table
                ),
                (new, old),
            )
