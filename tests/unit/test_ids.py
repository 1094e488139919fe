"""New aggregate ids are RFC 9562 version 7 UUIDs, increasing, and carry the time."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from domain.ids import new_id


def test_ids_are_valid_version_7_uuids_with_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == "specified in RFC 4122"  # RFC 9562 keeps RFC 4122's variant bits
    assert UUID(str(made)) == made
    assert before <= made.int >> 80 <= after


def test_ids_made_in_one_millisecond_and_across_milliseconds_strictly_increase() -> None:
    made = [new_id() for _ in range(50_000)]  # many share a millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    stamps = [i.int >> 80 for i in made]
    assert len(set(stamps)) < len(made)  # the counter, not the clock, ordered some of them
    assert stamps[-1] - stamps[0] <= 10_000  # the timestamp follows the clock, not the count


def test_ids_made_by_threads_at_once_are_unique_and_each_threads_increase() -> None:
    results: list[list[UUID]] = [[] for _ in range(4)]

    def make(i: int) -> None:
        results[i] = [new_id() for _ in range(10_000)]

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [made for result in results for made in result]
    assert len(set(every)) == len(every)
    assert all(result == sorted(result) for result in results)


def test_records_tenants_and_credentials_get_version_7_ids_in_creation_order() -> None:
    from domain.contact import Contact
    from domain.context import Context
    from tests.support.events import ACTOR, memory_app

    app = memory_app()
    tenant, api_key, _, client, _ = app.provision_tenant(
        Context(new_id(), ACTOR, "t"), "T", ["records:read"]
    )
    ctx = Context(tenant.id, ACTOR, "t")
    first, _ = app.create_record(Contact, ctx, {"email": "a@example.com"})
    second, _ = app.create_record(Contact, ctx, {"email": "b@example.com"})
    made = [tenant.id, api_key.id, client.id, first.id, second.id]
    assert [m.version for m in made] == [7] * 5
    assert first.id < second.id
    keyed, _ = app.create_record(Contact, ctx, {"email": "c@example.com"}, idempotency_key="k")
    assert keyed.id.version == 5  # derived from the key, so a retry finds the first answer
