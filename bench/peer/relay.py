"""The peer's outbox relay: claims unpublished outbox rows in batches and publishes them.

Publishing is a NOTIFY per batch (the broker of a one-database deployment) and marking the
rows published, in the claiming transaction: at-least-once, as such relays are written.
Run as `python -m bench.peer.relay`; `DATABASE_URL` names the database.
"""

from __future__ import annotations

import os
import signal
import threading

import psycopg

BATCH = 100
CLAIM = """
    WITH claimed AS (
        SELECT id FROM peer_outbox WHERE published_at IS NULL
        ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
    )
    UPDATE peer_outbox o SET published_at = now() FROM claimed
    WHERE o.id = claimed.id RETURNING o.id, o.topic
"""


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        while not stop.is_set():
            with conn.transaction():
                rows = conn.execute(CLAIM, (BATCH,), prepare=True).fetchall()
                if rows:
                    conn.execute("SELECT pg_notify('peer_events', %s)", (str(len(rows)),))
            if len(rows) < BATCH:
                stop.wait(0.01)  # a short linger: batches grow with the arrival rate


if __name__ == "__main__":
    main()
