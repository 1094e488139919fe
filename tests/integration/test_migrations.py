"""The schema migrations: every one applied to an empty database gives the checked-in schema
snapshot; `syncline migrate` (and `--dry-run`) on an empty and on a current database; starts
that race, and a start that must not wait for running projection batches.

The snapshot is read from the catalog (columns, constraints, `pg_indexes`,
`pg_get_functiondef`), not from pg_dump, whose output differs between PostgreSQL versions.
After adding a migration, write the new snapshot with
`SYNCLINE_WRITE_SCHEMA_SNAPSHOT=1 pytest tests/integration/test_migrations.py -k snapshot`
and review its diff with the migration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from syncline.migrate import MIGRATION_LOCK, Migration, SchemaTooNewError, migrate, migrations
from syncline.runtime import Runtime
from tests.conftest import ROOT

SNAPSHOT = Path(__file__).with_name("schema_snapshot.txt")

# Each query answers text rows in a fixed order, for the connection's current schema.
CATALOG = {
    "relations": """
        SELECT c.relname || ' ' || c.relkind::text
            || CASE c.relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END
            || coalesce(' ' || array_to_string(c.reloptions, ','), '')
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'c', 'S')
        ORDER BY c.relname
    """,
    "columns": """
        SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
            || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'c')
            AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY c.relname, a.attnum
    """,
    "constraints": """
        SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = current_schema()::regnamespace
        ORDER BY c.relname, k.conname
    """,
    "indexes": """
        SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
        ORDER BY tablename, indexname
    """,
    "functions": """
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
        ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
    """,
}


def describe(url: str) -> str:
    """The database's schema as text: a section per kind of object, a line (or block) each."""
    with psycopg.connect(url) as conn:
        parts = []
        for section, query in CATALOG.items():
            rows = conn.execute(query).fetchall()  # type: ignore[arg-type]
            parts.append(f"-- {section}\n" + "\n".join(str(row[0]).strip() for row in rows))
    return "\n\n".join(parts) + "\n"


def versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM syncline_migrations ORDER BY 1").fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def has_version_table(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('syncline_migrations')").fetchone()
    return row is not None and row[0] is not None


def with_options(url: str, options: str) -> str:
    params = conninfo_to_dict(url)
    params["options"] = options
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


ALL = [(m.version, m.name) for m in migrations()]


def test_every_migration_on_an_empty_database_gives_the_schema_snapshot(
    fresh_database: str,
) -> None:
    assert [str(m) for m in migrate(fresh_database)] == [f"{v:04d}_{n}" for v, n in ALL]
    schema = describe(fresh_database)
    if os.environ.get("SYNCLINE_WRITE_SCHEMA_SNAPSHOT"):
        SNAPSHOT.write_text(schema)
    assert schema == SNAPSHOT.read_text(), "the schema differs from schema_snapshot.txt"
    assert versions(fresh_database) == ALL


def test_migrations_are_numbered_in_order_and_the_first_is_the_baseline() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "baseline"


def test_migrating_a_current_database_changes_nothing(fresh_database: str) -> None:
    migrate(fresh_database)
    before = describe(fresh_database)
    assert migrate(fresh_database, dry_run=True) == []
    assert migrate(fresh_database) == []
    assert describe(fresh_database) == before
    assert versions(fresh_database) == ALL


def test_a_database_made_before_versioning_is_adopted_with_its_rows(fresh_database: str) -> None:
    """The baseline only creates what is missing: a database whose schema was made before
    versions were recorded keeps its rows and gains the version table."""
    baseline = migrations()[0]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(baseline.sql.encode())  # the shape deployments had before versioning
        conn.execute("INSERT INTO projection_tracking (name, position) VALUES ('events', 42)")
        conn.execute("DROP TABLE syncline_migrations")
    assert [m.version for m in migrate(fresh_database)] == [v for v, _ in ALL]
    assert describe(fresh_database) == SNAPSHOT.read_text()
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("SELECT position FROM projection_tracking WHERE name = 'events'")
        assert row.fetchone() == (42,)


def test_a_start_on_a_migrated_database_waits_for_no_lock(fresh_database: str) -> None:
    """A process starting while projection batches run (and while another process holds the
    migration lock) must not queue behind them: it only reads the version table."""
    migrate(fresh_database)
    with (
        psycopg.connect(fresh_database) as batch,  # a runner's batch, mid-transaction
        psycopg.connect(fresh_database) as other,  # a process migrating, say
    ):
        batch.execute("INSERT INTO projection_tracking (name) VALUES ('seen')")
        batch.execute("UPDATE projection_tracking SET position = position")
        other.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        assert migrate(with_options(fresh_database, "-c lock_timeout=1s")) == []
        other.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        batch.rollback()


def test_migrators_starting_together_apply_each_migration_once(fresh_database: str) -> None:
    applied: list[list[Migration]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            applied.append(migrate(fresh_database))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m.version for done in applied for m in done) == [v for v, _ in ALL]
    assert versions(fresh_database) == ALL


def syncline(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncline.cli", *args],
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_syncline_migrate_and_dry_run_on_an_empty_then_a_current_database(
    fresh_database: str,
) -> None:
    names = [f"{v:04d}_{n}" for v, n in ALL]
    dry = syncline(fresh_database, "migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [f"would apply {name}" for name in names]
    assert not has_version_table(fresh_database)  # a dry run changes nothing

    done = syncline(fresh_database, "migrate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"applied {name}" for name in names]
    assert versions(fresh_database) == ALL

    for args in (("migrate", "--dry-run"), ("migrate",)):
        again = syncline(fresh_database, *args)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == ["the schema is up to date"]
    assert describe(fresh_database) == SNAPSHOT.read_text()


def test_a_running_syncline_is_migrated(runtime: Runtime) -> None:
    assert migrate(runtime.database_url, dry_run=True) == []
    assert versions(runtime.database_url) == ALL


def test_a_database_migrated_by_a_later_version_is_refused_and_left_as_it_is(
    fresh_database: str,
) -> None:
    migrate(fresh_database)
    later = len(ALL) + 1
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO syncline_migrations (version, name) VALUES (%s, 'from_the_future')",
            (later,),
        )
    before = describe(fresh_database)
    with pytest.raises(SchemaTooNewError, match=f"{later:04d}_from_the_future"):
        migrate(fresh_database)
    with pytest.raises(SchemaTooNewError):
        migrate(fresh_database, dry_run=True)
    assert describe(fresh_database) == before
