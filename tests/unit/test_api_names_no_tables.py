"""The API reads read models through their readers: no table is named in SQL under api/,
except the API's own stores, each in its one module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The API's own stores: their table, and the one module that holds its SQL.
STORES = {
    "access_tokens": "api/access_tokens.py",
    "rate_limit_buckets": "api/rate_limit.py",
    "auth_epoch": "api/auth_sync.py",
    "auth_listeners": "api/auth_sync.py",
    "portal_sessions": "api/portal/sessions.py",
}
CREATED = re.compile(r"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)


def tables() -> set[str]:
    found: set[str] = set()
    for migration in sorted((ROOT / "syncline" / "migrations").glob("*.sql")):
        found.update(CREATED.findall(migration.read_text()))
    return found


def sql_naming(table: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE|TRUNCATE|TABLE)\s+{table}\b")


def test_the_scan_sees_every_table_and_sql_that_names_one() -> None:
    known = tables()
    assert {"tenants", "credentials", "webhook_subscriptions", "webhook_deliveries"} <= known
    assert {"webhook_attempts", "event_log", "contacts", "changes", *STORES} <= known
    assert sql_naming("tenants").search("SELECT id FROM tenants WHERE id = %s")
    assert sql_naming("webhook_attempts").search("LEFT JOIN webhook_attempts a ON")
    assert not sql_naming("tenants").search("SELECT id FROM tenants_archive")


def test_no_module_under_api_names_a_table_in_sql() -> None:
    offenders = []
    for table in sorted(tables()):
        pattern = sql_naming(table)
        for path in sorted((ROOT / "api").rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if STORES.get(table) == relative:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "read it through the read model's reader:\n" + "\n".join(offenders)
