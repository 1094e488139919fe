"""Migration 0007 (the event log keeps an index row per event and renders envelopes from the
event store): on a database written before it, every envelope, every cursor and the audit
chain read as they did, and the migrated rows are those the projection writes today."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.contact import Contact
from domain.context import Context
from domain.events import public_type
from domain.webhook import WebhookSubscription
from projections.audit.checkpoints import Checkpointer
from projections.audit.projection import AuditChainProjection
from projections.audit.verify import ChainVerifier
from projections.audit.view import AuditView
from projections.changes.cursor import decode_change_cursor, encode_change_cursor
from projections.changes.feed import ChangeFeed
from projections.cursor import CursorCodec
from projections.events.log import EventLog
from projections.events.projection import EventLogProjection
from projections.json import array_literal
from projections.protocol import PreparingProjection
from projections.records.projection import RecordsProjection
from projections.rendering import envelope_json
from syncline.migrate import migrate
from syncline.runtime import audit_signer
from tests.support.before_0010 import CHANGES_UPSERT, ChangesBefore0010, feed_page_before_0010
from tests.support.events import ACTOR, record_lives
from tests.support.migrations import at_migration, project

LEAN = 7  # the migration under test


class EventLogBefore0007(PreparingProjection):
    """The event log as it was written before migration 0007: the envelope stored whole."""

    name = "events"

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[Any] | None:
        rows = []
        for position, event in events:
            event_type = public_type(event)
            if event_type is None:
                continue
            text = envelope_json(event, event_type, "").decode()
            rows.append(
                (
                    event.meta["tenant_id"],
                    position,
                    text[7:43],  # {"id":"evt_…": the event id
                    event_type,
                    event_type.split(".")[0],
                    event.originator_id,
                    event.originator_version,
                    text.split('"occurred_at":"', 1)[1][:27],
                    text,
                )
            )
        if not rows:
            return None
        *columns, envelopes = (list(column) for column in zip(*rows, strict=True))
        return [*map(array_literal, columns), envelopes]

    def write(self, cur: psycopg.Cursor[Any], prepared: list[Any] | None) -> None:
        if prepared is not None:
            cur.execute(
                "INSERT INTO event_log (tenant_id, position, event_id, type, entity_type,"
                " entity_id, entity_version, occurred_at, envelope) SELECT * FROM unnest("
                " %s::uuid[], %s::int8[], %s::text[], %s::text[], %s::text[], %s::uuid[],"
                " %s::int8[], %s::timestamptz[], %b::text[]::json[])",
                prepared,
            )

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("TRUNCATE event_log")


class ChangesBefore0007(ChangesBefore0010):
    """The change feed as it was written before migration 0007: keyed by (tenant, id)."""

    def write(self, cur: psycopg.Cursor[Any], prepared: Any) -> None:
        if prepared is not None:
            cur.execute(
                CHANGES_UPSERT.replace("ON CONFLICT (id)", "ON CONFLICT (tenant_id, id)"),
                prepared,
            )


def history(app: Any, pool: Any) -> UUID:
    """A tenant's records' whole lives, a webhook's ping and a signed audit checkpoint."""
    tenant = UUID(bytes=secrets.token_bytes(16), version=4)
    ctx = Context(tenant, ACTOR, "before-0007")
    for _ in range(3):
        record_lives(app, ctx)
    app.create_record(Contact, ctx, {"email": "ü@example.com", "name": 'Zoë "Q" \\ \n'})
    webhook = WebhookSubscription.create(
        ctx,
        id=UUID(bytes=secrets.token_bytes(16), version=4),
        url="https://example.com/hook",
        event_types=["contact.*"],
        description=None,
        secret="s",
    )
    webhook.ping(ctx)
    app.save(webhook)
    project(app, pool, AuditChainProjection())
    Checkpointer(app, pool, audit_signer(pool, None)).checkpoint(tenant)
    return tenant


@pytest.fixture
def before_0007(fresh_database: str) -> Any:
    """A database at migration 7 with a history written by the projections of the day."""
    with at_migration(fresh_database, LEAN, "before-0007") as (app, pool):
        tenant = history(app, pool)
        project(app, pool, AuditChainProjection(), ChangesBefore0007(), EventLogBefore0007())
        yield fresh_database, app, pool, tenant


def test_a_database_written_before_0007_reads_the_same_after_it(before_0007: Any) -> None:
    url, app, pool, tenant = before_0007
    codec = CursorCodec(secrets.token_bytes(64))
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT position, envelope::text FROM event_log WHERE tenant_id = %s ORDER BY position",
            (tenant,),
        ).fetchall()
        ids = conn.execute(
            "SELECT event_id, position FROM event_log WHERE tenant_id = %s ORDER BY position",
            (tenant,),
        ).fetchall()
    types = {text.split('"type":"', 1)[1].split('"', 1)[0] for _, text in stored}
    assert {"contact.updated", "order.deleted", "webhook.ping", "audit.checkpoint"} <= types
    feed = ChangeFeed(pool)
    middle = stored[len(stored) // 2][0]
    old_cursors = [  # as integrations kept them: format 1 and format 2
        codec.encode("changes", tenant, [middle]),
        encode_change_cursor(codec, tenant, middle),
    ]
    feed_before = feed_page_before_0010(url, tenant, middle, 1000)
    export_before = list(AuditView(pool).export(codec, tenant, app=app))

    applied = [str(m) for m in migrate(url)]
    assert applied[: applied.index("0007_lean_storage") + 1] == ["0007_lean_storage"]

    log = EventLog(pool, app)
    page = log.page(tenant, limit=1000)
    assert page.items == [(int(p), text) for p, text in stored]  # byte for byte
    for event_id, position in ids:
        assert log.get(tenant, event_id) == (position, dict(stored)[position])
    assert log.get(UUID(int=tenant.int ^ 1), ids[0][0]) is None  # another tenant's id
    for cursor in old_cursors:
        after = decode_change_cursor(codec, tenant, cursor)
        assert after == middle
        assert feed.page(tenant, after, 1000) == feed_before
        assert [p for p, _ in log.page(tenant, after=after, limit=1000).items] == [
            int(p) for p, _ in stored if p > middle
        ]
    assert list(AuditView(pool).export(codec, tenant, app=app)) == export_before
    report = ChainVerifier(app, pool).verify()
    assert report.intact, report

    # The migrated rows are the rows the projections write today.
    for name, table, projection in [
        ("events", "event_log", EventLogProjection()),
        ("records", "records", RecordsProjection()),  # the feed's table since 0010
    ]:
        with psycopg.connect(url, autocommit=True) as conn:
            migrated = conn.execute(f"SELECT * FROM {table} ORDER BY position").fetchall()
            conn.execute(f"TRUNCATE {table}")
            conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = %s", (name,))
        project(app, pool, projection)
        with psycopg.connect(url) as conn:
            rebuilt = conn.execute(f"SELECT * FROM {table} ORDER BY position").fetchall()
        assert rebuilt == migrated
        assert rebuilt
    assert feed.page(tenant, middle, 1000) == feed_before
