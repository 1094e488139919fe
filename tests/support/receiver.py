"""A real webhook endpoint on 127.0.0.1 that records every request it gets."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.poll import wait_until


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


Responder = Callable[
    [Received], "int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]"
]


class Receiver:
    """A webhook endpoint (http.server, HTTP/1.1 keep-alive) recording every request.

    `respond` decides each answer (status; status and headers; or status, headers and
    body, `ok` when not given); 200 by default.
    `in_flight` is the number of requests being answered now, `peak_in_flight` the most
    at once (a request whose client gave up still counts until `respond` returns);
    `arrivals` the time each request came in (`time.monotonic()`), answered or not.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda _: 200)
        self.received: list[Received] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.arrivals: list[float] = []
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
                with receiver._changed:
                    receiver.arrivals.append(time.monotonic())
                    receiver.in_flight += 1
                    receiver.peak_in_flight = max(receiver.peak_in_flight, receiver.in_flight)
                    receiver._changed.notify_all()
                try:
                    answer = receiver.respond(request)
                finally:
                    with receiver._changed:
                        receiver.in_flight -= 1
                if not isinstance(answer, tuple):
                    answer = (answer, {})
                status, headers, body = (*answer, b"ok")[:3]
                with receiver._changed:
                    receiver.received.append(dataclasses.replace(request, status=status))
                    receiver._changed.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
        """Whether `predicate(self)` held within `timeout` (woken by each request)."""
        return wait_until(lambda: predicate(self), timeout, interval=0.2, changed=self._changed)

    def wait_count(self, n: int, path: str | None = None, timeout: float = 20.0) -> bool:
        return self.wait_for(lambda r: len(r.events(path)) >= n, timeout)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
