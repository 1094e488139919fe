"""Every PostgreSQL advisory lock Syncline takes, named in one place.

Advisory locks share one key space per database, so each number here must differ from
the others and from every projection's key (`projection_lock`, a CRC-32 of its name).
Delivery and the composition root import these from here: they sit above projections.
"""

from __future__ import annotations

import zlib
from typing import Any

from psycopg import sql

# Applying the schema migrations, one process at a time (syncline.migrate; a session lock).
MIGRATION_LOCK = 7301984
# Constructing the event store (it creates its tables), one process at a time.
EVENT_STORE_LOCK = 7301986


def projection_lock(name: str) -> int:
    """The session lock whose holder leads projection `name` (see projections.leadership)."""
    return zlib.crc32(f"projection:{name}".encode())


def lock_event_store(app: Any) -> sql.Composed:
    """The group commit's table lock on the event store (syncline_insert_events_inline takes
    it first): held to commit, it orders a transaction among the saves'."""
    recorder: Any = app.recorder
    table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    return sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table)
