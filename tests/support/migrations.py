"""Databases at an earlier migration, written by the projections of that day."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from projections.protocol import PreparingProjection
from projections.runner import ProjectionRunner
from syncline.app import GroupCommitSyncline
from syncline.database import open_pool
from syncline.migrate import VERSION_TABLE, migrations


def migrate_before(url: str, version: int) -> None:
    """Apply the migrations numbered below `version`, as `migrate` applies each."""
    with psycopg.connect(url, autocommit=True) as conn:
        for migration in migrations():
            if migration.version < version:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )


def project(app: Any, pool: Any, *projections: PreparingProjection) -> None:
    """Run each projection's runner over the whole log."""
    for projection in projections:
        runner = ProjectionRunner(app, pool, projection)
        runner.ensure_tracking()
        runner.process_available()


@contextmanager
def at_migration(url: str, version: int, name: str) -> Iterator[tuple[Any, Any]]:
    """The database at `url` migrated below `version`, and an application and a pool
    (named `name`) on it to write its history with; both closed after."""
    migrate_before(url, version)
    app = GroupCommitSyncline(url, 4)
    pool = open_pool(url, max_size=4, name=name)
    try:
        yield app, pool
    finally:
        pool.close()
        app.close()
