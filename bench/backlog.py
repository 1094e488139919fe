"""What the feed benchmarks share: a tenant over HTTP, a backlog of events appended fast."""

from __future__ import annotations

import time
from uuid import UUID

from bench.harness import BenchEnv
from domain.contact import Contact
from domain.context import Actor, Context
from domain.ids import new_id
from syncline.config import Settings
from syncline.runtime import Runtime

PER_SAVE = 500  # aggregates per app.save(): one transaction, one table lock


def open_runtime(env: BenchEnv) -> Runtime:
    """The event store and pool in this process (no projection runs)."""
    return Runtime.open(Settings(database_url=env.database_url))


def append_contacts(runtime: Runtime, tenants: list[UUID], count: int) -> float:
    """`count` contact.created events spread over `tenants`; answers events/s."""
    started = time.monotonic()
    done = 0
    while done < count:
        ctx = Context(tenants[done // PER_SAVE % len(tenants)], Actor("system", "bench"), "bench")
        n = min(PER_SAVE, count - done)
        runtime.app.save(
            *(
                Contact.create(
                    ctx,
                    {
                        "email": f"c{done + i}@example.com",
                        "name": "Ada Lovelace",
                        "company": "Analytical Engines Ltd",
                        "tags": ["customer", "bench"],
                        "custom_fields": {"plan": "pro", "seats": 12},
                    },
                    id=new_id(),
                )
                for i in range(n)
            )
        )
        done += n
    return count / (time.monotonic() - started)


def log_head(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
