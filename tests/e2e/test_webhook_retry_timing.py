"""Retry timing against a real endpoint that hangs: a timeout is an attempt like any other
failure, and the next try comes the schedule's delay after the timeout ran out."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from delivery.retry import RetrySchedule
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.poll import wait_until
from tests.support.receiver import Receiver
from tests.support.webhooks import contact, deliveries, latest_status, subscribe

DELAY = 1.0  # the schedule's delay before the second attempt


def test_after_a_timeout_the_next_try_follows_the_schedule(
    hooks_tenant: TenantClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCLINE_WEBHOOK_TIMEOUT_SECONDS", "1")
    timeout = Settings.from_env(dotenv=None).webhook_timeout
    monkeypatch.setattr(
        runtime, "settings", dataclasses.replace(runtime.settings, webhook_timeout=timeout)
    )
    released = threading.Event()
    arrivals: list[float] = []

    def hang(_: Any) -> int:
        arrivals.append(time.monotonic())
        released.wait(30)  # never answers while the test runs
        return 200

    with Receiver(hang) as hanging:
        hook = subscribe(hooks_tenant, hanging.url, ["contact.created"])
        # Two attempts in all, the second DELAY after the first failed. The delay is shorter
        # than the timeout, so counting it from the start of the attempt would make the
        # second try come as soon as the first timed out.
        worker = runtime.delivery_worker(
            schedule=RetrySchedule(delays=(0, DELAY), jitter=0), poll_interval=0.1
        )
        assert worker.timeout == 1.0
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            assert worker.started.wait(10)
            contact(hooks_tenant, "hangs@example.com")
            assert wait_until(lambda: latest_status(hooks_tenant, hook["id"]) == "failed")
        finally:
            worker.stop()
            released.set()
            thread.join(timeout=15)

    [delivery] = deliveries(hooks_tenant, hook["id"])
    assert delivery["attempt_count"] == 2  # each timeout counted as an attempt
    assert [a["outcome"] for a in delivery["attempts"]] == ["timeout", "timeout"]
    assert delivery["last_error"] == "no answer within 1 s"
    first, second = (datetime.fromisoformat(a["attempted_at"]) for a in delivery["attempts"])
    # The first attempt ended no sooner than the timeout; the second waited the delay after.
    assert (second - first).total_seconds() >= timeout + DELAY
    assert len(arrivals) == 2
    gap = arrivals[1] - arrivals[0]
    assert timeout + DELAY - 0.1 <= gap < timeout + DELAY + 3.0, gap
