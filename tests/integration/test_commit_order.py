"""Notification ids follow commit order: a reader tailing the log never sees a gap filled.

This is what the change cursor, /v1/events and webhook matching rely on. Several processes'
worth of writers (separate Runtimes, so separate flushers and connections) commit
concurrently while a reader repeatedly reads everything above what it has seen; any id at or
below its high-water mark that shows up later would be a change a poller skipped.
"""

from __future__ import annotations

import threading
import time
from uuid import uuid4

import psycopg

from domain.contact import Contact
from domain.context import Actor, Context
from syncline.config import Settings
from syncline.runtime import Runtime


def test_tailing_reader_never_sees_an_earlier_id_appear_late(test_settings: Settings) -> None:
    runtimes = [Runtime.open(test_settings, pool_size=4) for _ in range(3)]
    ctx = Context(uuid4(), Actor("test", "order"), "order")
    stop = threading.Event()
    violations: list[tuple[int, int]] = []
    seen: set[int] = set()

    def write(runtime: Runtime, n: int) -> None:
        for i in range(60):
            runtime.app.create_record(Contact, ctx, {"email": f"w{n}-{i}@example.com"})

    def read() -> None:
        high = 0
        with psycopg.connect(test_settings.database_url, autocommit=True) as conn:
            while not stop.is_set():
                ids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT notification_id FROM syncline_events WHERE notification_id > %s"
                        " ORDER BY notification_id",
                        # Re-read a window below the high-water mark to catch late arrivals.
                        (max(high - 500, 0),),
                    )
                ]
                for nid in ids:
                    if nid not in seen and nid <= high:
                        violations.append((nid, high))
                    seen.add(nid)
                if ids:
                    high = max(high, ids[-1])
                time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(runtimes[n % 3], n)) for n in range(9)]
    try:
        for w in writers:
            w.start()
        for w in writers:
            w.join()
    finally:
        time.sleep(0.05)
        stop.set()
        reader.join()
        for rt in runtimes:
            rt.close()
    assert len(seen) >= 9 * 60
    assert violations == [], f"ids committed after the reader passed them: {violations[:5]}"
