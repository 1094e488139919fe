"""Projections are exact: rebuilding every read model from the log equals the live tables."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from domain.contact import Contact
from domain.context import Actor, Context
from domain.errors import ConflictError
from domain.order import Order
from projections.runner import ProjectionRunner
from syncline.config import Settings
from syncline.database import open_pool
from syncline.migrate import migrate
from syncline.runtime import Runtime, all_projections
from tests.support.databases import own_database

TABLES = {
    "records": "id",
    "tenants": "id",
    "credentials": "id",
    "webhook_subscriptions": "id",
    "webhooks": "id",
    "audit_chain": "tenant_id, sequence",
    "audit_heads": "tenant_id",
    "audit_checkpoints": "tenant_id, sequence",
}


def scratch_url(url: str, schema: str) -> str:
    params = conninfo_to_dict(url)
    params["options"] = f"-c search_path={schema}"
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def snapshot(conn: psycopg.Connection, schema: str) -> dict[str, list[tuple]]:
    return {
        table: conn.execute(f"SELECT * FROM {schema}.{table} ORDER BY {key}").fetchall()
        for table, key in TABLES.items()
    }


def rebuild_and_compare(runtime: Runtime, batch_size: int) -> None:
    assert runtime.wait_for_projections()
    schema = f"rebuild_{uuid4().hex[:8]}"
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    migrate(scratch_url(runtime.database_url, schema))  # our whole schema, in the scratch one
    pool = open_pool(scratch_url(runtime.database_url, schema), max_size=2)
    try:
        projections = all_projections(runtime.cursors)
        head = runtime.app.recorder.max_notification_id()  # type: ignore[attr-defined]
        for projection in projections:
            runner = ProjectionRunner(runtime.app, pool, projection, batch_size=batch_size)
            runner.ensure_tracking()
            runner.process_available()
            assert runner.position() >= head
        assert runtime.wait_for_projections()
        with psycopg.connect(runtime.database_url) as conn:
            live = snapshot(conn, "public")
            rebuilt = snapshot(conn, schema)
        assert rebuilt == live
    finally:
        pool.close()
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


ACTIONS = st.lists(
    st.sampled_from(["create", "update", "delete", "order", "place", "pay", "cancel"]),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def own_runtime(server_url: str, test_settings: Settings) -> Iterator[Runtime]:
    """Every projection running on a database of this module's own, seeded with a tenant,
    its credentials and a webhook, so that each projection has rows to rebuild. A rebuild
    replays the whole log: on the suite's shared database, seven events a batch, that was
    every earlier test's history, five times over."""
    with own_database(server_url, "syncline_rebuild") as url:
        rt = Runtime.open(dataclasses.replace(test_settings, database_url=url))
        rt.start_projections(poll_interval=0.5)
        try:
            operator = Context(uuid4(), Actor("operator", "rebuild"), "rebuild")
            tenant, *_ = rt.app.provision_tenant(operator, "Rebuild", ["webhooks:manage"])
            rt.app.create_webhook(
                Context(tenant.id, Actor("api_key", "rebuild"), "rebuild"),
                url="http://127.0.0.1:9/hook",
                event_types=["contact.created", "order.paid"],
                description=None,
                seal=rt.secret_box.seal,
            )
            yield rt
        finally:
            rt.close()


@settings(max_examples=5)
@given(ACTIONS)
def test_rebuild_equals_live_after_any_history(own_runtime: Runtime, actions: list[str]) -> None:
    """Random histories in small batches (batch boundaries anywhere). The whole suite's
    log is rebuilt by `test_rebuild_in_one_batch_equals_live`."""
    runtime = own_runtime
    ctx = Context(uuid4(), Actor("test", "rebuild"), "rebuild")
    contacts: list[Contact] = []
    orders: list[Order] = []
    for i, action in enumerate(actions):
        live = [c for c in contacts if not c.deleted]
        if action == "create" or not live:
            contact, _ = runtime.app.create_record(Contact, ctx, {"email": f"r{i}@example.com"})
            contacts.append(contact)
        elif action == "update":
            runtime.app.update_record(
                Contact, ctx, live[-1].id, lambda c, i=i: c.update(ctx, {"name": f"n{i}"})
            )
        elif action == "delete":
            deleted = runtime.app.update_record(Contact, ctx, live[0].id, lambda c: c.delete(ctx))
            contacts[contacts.index(live[0])] = deleted
        elif action == "order":
            order, _ = runtime.app.create_record(
                Order,
                ctx,
                {
                    "contact_id": live[-1].id,
                    "currency": "EUR",
                    "line_items": [{"sku": "S", "quantity": i + 1, "unit_price": 10}],
                },
            )
            orders.append(order)
        elif orders:
            verb = {"place": "place", "pay": "pay", "cancel": "cancel"}[action]
            order = runtime.app.get_record(Order, ctx, orders[-1].id)
            # Illegal transitions are part of a random history: they are refused, not saved.
            with contextlib.suppress(ConflictError):
                getattr(order, verb)(ctx)
                runtime.app.save(order)
    rebuild_and_compare(runtime, batch_size=7)


def test_rebuild_in_one_batch_equals_live(runtime: Runtime) -> None:
    """The suite's shared log, whatever the tests before made of it (and a history of
    its own, when this runs alone)."""
    ctx = Context(uuid4(), Actor("test", "rebuild"), "rebuild")
    contact, _ = runtime.app.create_record(Contact, ctx, {"email": "one-batch@example.com"})
    runtime.app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "N"}))
    rebuild_and_compare(runtime, batch_size=10_000)
