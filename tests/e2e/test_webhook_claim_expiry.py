"""A claimed delivery that waited for a sender until its lease could run out mid-request is
not sent late: the worker leaves it to its lease, and it is sent once when it is claimed
again, with no attempt recorded for the wait (another worker may claim it as soon as the
lease ends, so sending it late could deliver it twice at once)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import Workers, deliveries, pending, store_contacts, subscribe

TIMEOUT = 2.0  # the worker's request timeout: its lease is TIMEOUT + 1 s
ANSWER = 1.3  # how long the endpoint takes to answer: longer than a claim may wait


def test_a_claim_that_waited_too_long_is_left_to_its_lease_and_sent_once(
    hooks_tenant: TenantClient,
    runtime: Runtime,
    workers: Workers,
    caught_up: Callable[[], None],
) -> None:
    def slow(_: Any) -> int:
        time.sleep(ANSWER)
        return 200

    with Receiver(slow) as receiver:
        hook = subscribe(hooks_tenant, receiver.url, ["contact.created"])
        store_contacts(runtime, hooks_tenant.id, 2)  # saved together
        caught_up()
        # Both are queued before the worker starts, two records (two queues) of one
        # endpoint: its first claim takes both (the allowance is AHEAD times the limit).
        assert pending(runtime, hook["id"]) == 2
        worker = workers.start(timeout=TIMEOUT, endpoint_concurrency=1)
        lease = worker.lease.total_seconds()
        # A claim may wait for a sender for lease - timeout (1 s here), less than ANSWER:
        # the second delivery's wait runs out while the first is being answered.
        assert lease - TIMEOUT < ANSWER
        assert receiver.wait_count(2, timeout=3 * lease)
        assert wait_until(
            lambda: all(d["status"] == "delivered" for d in deliveries(hooks_tenant, hook["id"])),
            timeout=10,
        )

    received = Counter(event["entity"]["id"] for event in receiver.events())
    assert sorted(received.values()) == [1, 1], received
    settled = deliveries(hooks_tenant, hook["id"])
    # The wait was no attempt: each delivery has the one attempt that reached the endpoint.
    assert [d["attempt_count"] for d in settled] == [1, 1]
    first, second = sorted(
        datetime.fromisoformat(d["attempts"][0]["attempted_at"]).timestamp() for d in settled
    )
    # By the worker's clock: sent when claimed again after its lease ended (a lease after
    # the claim), not as soon as the sender was free (ANSWER after the first was sent).
    # The bound lies halfway between the two.
    assert second - first >= (ANSWER + lease) / 2, second - first
