"""Schema migrations: numbered SQL files in `syncline/migrations/`, applied once each, in order.

`NNNN_name.sql` files are the only place our schema is written (the eventsourcing library
creates its own tables). `syncline_migrations` records the versions applied (the baseline
creates it). Each migration runs in a transaction of its own with its version row, so a
failed one leaves nothing behind and is retried whole at the next start.

Every process that uses the database migrates on start (`Runtime.open`), and
`syncline migrate` does it alone. Processes starting together are serialized by an advisory
lock; a start on an up-to-date database takes no lock at all, beyond reading the version
table (it must not queue behind running projection batches).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from projections.locks import MIGRATION_LOCK

log = logging.getLogger(__name__)

VERSION_TABLE = "syncline_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def __str__(self) -> str:
        return f"{self.version:04d}_{self.name}"


def migrations() -> list[Migration]:
    """Every migration shipped with this package, in order (numbered 1, 2, 3… without gaps)."""
    found = []
    for entry in resources.files("syncline").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise RuntimeError(f"migration {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3… without gaps: {versions}")
    return found


def applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    """Versions recorded in this database (none when it has no version table yet)."""
    row = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    if row is None or row[0] is None:
        return set()
    rows = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall()
    return {int(r[0]) for r in rows}


class SchemaTooNewError(RuntimeError):
    """The database has migrations this code does not know: a later Syncline migrated it."""


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    """The migrations this database has not had yet, in order. Raises SchemaTooNewError
    when it has had one this code does not ship: this code would write to tables whose
    shape it does not know (a rolling start of an older version after a newer one)."""
    done = applied_versions(conn)
    known = migrations()
    newer = sorted(done - {m.version for m in known})
    if newer:
        names = dict(
            conn.execute(
                f"SELECT version, name FROM {VERSION_TABLE} WHERE version = ANY(%s)", (newer,)
            ).fetchall()
        )
        raise SchemaTooNewError(
            f"the database's schema is at migration {newer[-1]:04d}_{names.get(newer[-1], '?')},"
            f" newer than this Syncline knows (up to {known[-1]}): run the version that"
            " migrated it, or a later one"
        )
    return [m for m in known if m.version not in done]


def migrate(database_url: str, *, dry_run: bool = False) -> list[Migration]:
    """Apply the pending migrations (or, with `dry_run`, only list them); answers them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        todo = pending(conn)
        if dry_run or not todo:
            return todo
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            todo = pending(conn)  # another process may have applied them meanwhile
            for migration in todo:
                log.info("applying schema migration", extra={"migration": str(migration)})
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        f"INSERT INTO {VERSION_TABLE} (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        return todo
