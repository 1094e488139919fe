"""Migration 0010 (the change feed and the record lists read one table): on a database
written before it, the feed reads as it did, item for item and byte for byte, with old
cursors, the `resource_types` filter, tombstones and the head; the lists are unchanged; and
the migrated rows are those the records projection writes today."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.contact import Contact
from domain.context import Context
from projections.changes.cursor import decode_change_cursor, encode_change_cursor
from projections.changes.feed import ChangeFeed
from projections.cursor import CursorCodec
from projections.records.projection import RecordsProjection
from projections.records.view import RecordsView
from projections.runner import ProjectionRunner
from projections.tracking import read_position
from syncline.migrate import migrate
from tests.support.before_0010 import ChangesBefore0010, RecordsBefore0010, feed_page_before_0010
from tests.support.events import ACTOR, record_lives
from tests.support.migrations import at_migration, project

ONE_TABLE = 10  # the migration under test
TYPES = [None, "contact", "order"]


def lists(pool: Any, tenant: UUID) -> dict[str, list[tuple[str, Any, UUID]]]:
    view = RecordsView(pool)
    return {
        resource: view.page(resource, tenant, limit=1000).rows for resource in ("contact", "order")
    }


def lists_before_0010(pool: Any, tenant: UUID) -> dict[str, list[tuple[str, Any, UUID]]]:
    """The lists as RecordsView read them before 0010: every row was a live record."""
    with pool.connection() as conn:
        return {
            resource: conn.execute(
                "SELECT data::text, created_at, id FROM records"
                " WHERE tenant_id = %s AND resource = %s ORDER BY created_at, id",
                (tenant, resource),
            ).fetchall()
            for resource in ("contact", "order")
        }


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM records ORDER BY position").fetchall()


@pytest.fixture
def before_0010(fresh_database: str) -> Any:
    """A database at migration 9 with two tenants' histories written by the projections of
    the day; the feed's projection has processed the whole log."""
    with at_migration(fresh_database, ONE_TABLE, "before-0010") as (app, pool):
        tenants = []
        for _ in range(2):
            tenant = UUID(bytes=secrets.token_bytes(16), version=4)
            ctx = Context(tenant, ACTOR, "before-0010")
            for _ in range(3):
                record_lives(app, ctx)
            kept, _ = app.create_record(Contact, ctx, {"email": "ü@example.com", "name": "Zoë"})
            app.update_record(
                Contact, ctx, kept.id, lambda c, ctx=ctx: c.update(ctx, {"name": "Q"})
            )
            app.create_record(Contact, ctx, {"email": "b@example.com", "tags": ["y"]})
            tenants.append(tenant)
        project(app, pool, RecordsBefore0010(), ChangesBefore0010())
        yield fresh_database, app, pool, tenants


def test_a_database_written_before_0010_reads_the_same_after_it(before_0010: Any) -> None:
    url, app, pool, tenants = before_0010
    codec = CursorCodec(secrets.token_bytes(64))
    head = app.recorder.max_notification_id()
    pages: dict[tuple[UUID, int, str | None], Any] = {}
    cursors: list[tuple[UUID, int, str, Any]] = []
    for tenant in tenants:
        everything = feed_page_before_0010(url, tenant, 0, 1000)
        assert any(b'"deleted":true' in item for _, item in everything.items)  # tombstones
        positions = [0] + [p for p, _ in everything.items]
        for after in positions:
            for resource_type in TYPES:
                pages[tenant, after, resource_type] = feed_page_before_0010(
                    url, tenant, after, 2, resource_type
                )
        middle = positions[len(positions) // 2]
        rest = feed_page_before_0010(url, tenant, middle, 1000)
        cursors.append((tenant, middle, codec.encode("changes", tenant, [middle]), rest))
        cursors.append((tenant, middle, encode_change_cursor(codec, tenant, middle), rest))
    lists_before = {tenant: lists_before_0010(pool, tenant) for tenant in tenants}
    assert all(any(rows for rows in listed.values()) for listed in lists_before.values())

    applied = [str(m) for m in migrate(url)]
    assert applied[0] == "0010_one_records_table"  # and every migration after it

    feed = ChangeFeed(pool)
    assert feed.head() == head
    for (tenant, after, resource_type), page in pages.items():
        types = None if resource_type is None else [resource_type]
        assert feed.page(tenant, after, 2, types) == page, (after, resource_type)
    for tenant, middle, cursor, rest in cursors:  # as integrations kept them: both formats
        after = decode_change_cursor(codec, tenant, cursor)
        assert after == middle
        assert feed.page(tenant, after, 1000) == rest
    for tenant in tenants:
        assert lists(pool, tenant) == lists_before[tenant]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('changes')").fetchone() == (None,)
        names = conn.execute("SELECT name FROM projection_tracking").fetchall()
        assert ("changes",) not in names

    # The migrated rows are the rows the records projection writes today.
    migrated = rows(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE records")
        conn.execute("UPDATE projection_tracking SET position = 0 WHERE name = 'records'")
    project(app, pool, RecordsProjection())
    assert rows(url) == migrated
    assert migrated


def test_a_feed_behind_the_lists_is_caught_up_by_the_records_runner(fresh_database: str) -> None:
    """Migrated while the feed's projection was behind the records read model: the rows are
    the feed's, the head is the feed's, and the records runner brings the rest, never
    showing a change below a position a reader has passed."""
    url = fresh_database
    with at_migration(url, ONE_TABLE, "behind-0010") as (app, pool):
        tenant = UUID(bytes=secrets.token_bytes(16), version=4)
        ctx = Context(tenant, ACTOR, "behind-0010")
        record_lives(app, ctx)
        contact, _ = app.create_record(Contact, ctx, {"email": "a@example.com"})
        project(app, pool, RecordsBefore0010(), ChangesBefore0010())
        feed_head = read_position(pool, "changes")
        app.update_record(Contact, ctx, contact.id, lambda c: c.update(ctx, {"name": "Later"}))
        app.create_record(Contact, ctx, {"email": "later@example.com"})
        project(app, pool, RecordsBefore0010())  # the lists are ahead of the feed
        lists_before = lists_before_0010(pool, tenant)
        seen = feed_page_before_0010(url, tenant, 0, 1000)

        migrate(url)
        feed = ChangeFeed(pool)
        assert feed.head() == feed_head
        assert feed.page(tenant, 0, 1000) == seen
        runner = ProjectionRunner(app, pool, RecordsProjection())
        assert runner.process_available() == 2
        assert feed.head() == app.recorder.max_notification_id()
        after = feed.page(tenant, seen.items[-1][0], 1000).items
        assert len(after) == 2  # the update and the create, above what was seen
        assert all(position > feed_head for position, _ in after)
        assert lists(pool, tenant) == lists_before
