"""Every PostgreSQL advisory lock Syncline takes, named in one place.

Advisory locks share one key space per database, so each number here must differ from
the others and from every projection's key (`projection_lock`, a CRC-32 of its name).
Delivery and the composition root import these from here: they sit above projections.
"""

from __future__ import annotations

import zlib

# Applying the schema migrations, one process at a time (syncline.migrate; a session lock).
MIGRATION_LOCK = 7301984
# Constructing the event store (it creates its tables), one process at a time.
EVENT_STORE_LOCK = 7301986


def projection_lock(name: str) -> int:
    """The session lock whose holder leads projection `name` (see projections.leadership)."""
    return zlib.crc32(f"projection:{name}".encode())
