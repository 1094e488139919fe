"""Webhook test kit: a real HTTP receiver on 127.0.0.1, a shiftable clock, and fixtures."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from delivery.worker import DeliveryWorker
from syncline.runtime import Runtime
from tests.conftest import TenantClient


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 200  # what the receiver answered
    at: float = field(default_factory=time.time)

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


Responder = Callable[[Received], "int | tuple[int, dict[str, str]]"]


class Receiver:
    """A webhook endpoint (http.server, HTTP/1.1 keep-alive) recording every request.

    `respond` decides each answer (status, or status and headers); 200 by default.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda _: 200)
        self.received: list[Received] = []
        self._changed = threading.Condition(threading.RLock())
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                answer = receiver.respond(request)
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                with receiver._changed:
                    receiver.received.append(dataclasses.replace(request, status=status))
                    receiver._changed.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._changed:
            return [r.event for r in self.received if path is None or r.path == path]

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.2))
        return True

    def wait_count(self, n: int, path: str | None = None, timeout: float = 20.0) -> bool:
        return self.wait_for(lambda r: len(r.events(path)) >= n, timeout)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class ShiftedClock:
    """The real time plus an offset the test moves forward (retries, the 5-day disable)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class Workers:
    """Sender workers started by a test and stopped after it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.running: list[tuple[DeliveryWorker, threading.Thread]] = []

    def start(self, **options: Any) -> DeliveryWorker:
        options.setdefault("poll_interval", 0.2)
        options.setdefault("timeout", 5.0)
        worker = self.runtime.delivery_worker(**options)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.started.wait(10), "the delivery worker did not start"
        self.running.append((worker, thread))
        return worker

    def stop(self) -> None:
        for worker, _ in self.running:
            worker.stop()
        for _, thread in self.running:
            thread.join(timeout=15)
        self.running.clear()


@pytest.fixture
def workers(runtime: Runtime) -> Iterator[Workers]:
    started = Workers(runtime)
    yield started
    started.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def subscribe(
    tenant: TenantClient, url: str, event_types: list[str], **body: Any
) -> dict[str, Any]:
    response = tenant.post("/v1/webhooks", json={"url": url, "event_types": event_types, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def hooks_tenant(tenant: TenantClient, caught_up: Callable[[], None]) -> Iterator[TenantClient]:
    """The `tenant`, whose webhooks are deleted after the test so no later worker sends
    its leftover retries."""
    yield tenant
    caught_up()
    for hook in tenant.get("/v1/webhooks", params={"limit": 1000}).json().get("data", []):
        tenant.delete(f"/v1/webhooks/{hook['id']}")
