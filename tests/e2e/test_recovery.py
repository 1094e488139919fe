"""Every backend of the deployment is terminated (as an operator's `pg_terminate_backend`
or a failover would) while writes and webhook deliveries stream: projections and
delivery move again within 5 s, and nothing is lost."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from projections.log_reader import DEFAULT_BATCH
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.poll import wait_until
from tests.support.projections import append_contacts
from tests.support.receiver import Receiver
from tests.support.webhooks import Workers, subscribe

RECOVERY_SECONDS = 5.0
BACKLOG = 2 * DEFAULT_BATCH  # events appended just before the termination: full batches


def terminate_every_backend(database_url: str) -> int:
    """Terminate every session of the test database but this one, wait until each has
    exited (5 s at most), and answer how many."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


class Writer:
    """Creates contacts over HTTP, one after another, until stopped; a 503 is retried with
    the same Idempotency-Key (whether the failed write committed is unknown)."""

    def __init__(self, tenant: TenantClient) -> None:
        self.client = httpx.Client(
            base_url=str(tenant.client.base_url),
            headers={"Authorization": f"Bearer {tenant.api_key}"},
            timeout=30,
        )
        self.created: list[tuple[float, str]] = []  # (wall time of the 201, contact id)
        self.refused: list[int] = []  # every non-201 status met (retried)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            key = secrets.token_hex(8)
            body = {"email": f"recovery{n}@example.com"}
            while True:
                response = self.client.post(
                    "/v1/contacts", json=body, headers={"Idempotency-Key": key}
                )
                if response.status_code == 201:
                    self.created.append((time.time(), response.json()["id"]))
                    break
                self.refused.append(response.status_code)
                time.sleep(0.05)
            time.sleep(0.02)

    def after(self, moment: float) -> list[str]:
        return [contact for at, contact in list(self.created) if at > moment]

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.thread.join(timeout=30)
        self.client.close()


def changed_ids(client: httpx.Client) -> set[str]:
    """Every record the change feed holds for the tenant (an initial sync, page by page)."""
    seen: set[str] = set()
    query: dict[str, Any] = {"limit": 1000}
    while True:
        response = client.get("/v1/changes", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        seen |= {change["id"] for change in page["data"]}
        if not page["has_more"]:
            return seen
        query["cursor"] = page["next_cursor"]


def positions(runtime: Runtime) -> dict[str, int]:
    return {runner.name: runner.position() for runner in runtime.runners}


def delivered_ids(receiver: Receiver, path: str) -> set[str]:
    return {event["entity"]["id"] for event in receiver.events(path)}


def within(deadline: float, condition: Callable[[], Any]) -> bool:
    return wait_until(condition, max(0.0, deadline - time.monotonic()), interval=0.02)


def test_after_every_backend_is_terminated_projections_and_delivery_move_within_5_s(
    runtime: Runtime,
    database_url: str,
    hooks_tenant: TenantClient,
    receiver: Receiver,
    workers: Workers,
    caught_up: Callable[[], None],
) -> None:
    path = "/recovery"
    subscribe(hooks_tenant, receiver.url + path, ["contact.created"])
    workers.start()
    caught_up()  # the subscriber knows the subscription
    with Writer(hooks_tenant) as writer:
        assert wait_until(lambda: len(writer.created) >= 10)
        assert receiver.wait_count(5, path), "deliveries were not flowing"
        # A backlog, so the runners are in the middle of batches when their sessions die.
        append_contacts(runtime, BACKLOG)
        killed_wall, killed = time.time(), time.monotonic()
        deadline = killed + RECOVERY_SECONDS
        # Leader sessions, listeners, pools of the worker and the API, the delivery worker.
        assert terminate_every_backend(database_url) >= len(runtime.runners) + 2
        # Writes go on (a 503 at most, retried), and projections follow.
        assert within(deadline, lambda: writer.after(killed_wall)), "no write got through"
        time.sleep(max(0.0, killed + 1.5 - time.monotonic()))
    head = runtime.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    written_after = writer.after(killed_wall)
    assert written_after, "no write after the termination"
    assert within(deadline, lambda: min(positions(runtime).values()) >= head), (
        f"projections did not reach the log head {head} within {RECOVERY_SECONDS} s of the"
        f" termination: {positions(runtime)}"
    )
    # A delivery made after the termination reaches the real endpoint in time.
    assert within(deadline, lambda: written_after[0] in delivered_ids(receiver, path)), (
        "a delivery made after the termination did not arrive within 5 s"
    )
    assert set(writer.refused) <= {503}, writer.refused  # never a 500

    # Nothing lost: the change feed has every record written, and each was delivered.
    created = {contact for _, contact in writer.created}
    assert created <= changed_ids(hooks_tenant.client)
    assert wait_until(lambda: created <= delivered_ids(receiver, path), 30), (
        f"{len(created - delivered_ids(receiver, path))} deliveries never arrived"
    )
