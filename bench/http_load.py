"""A lean HTTP/1.1 load generator: keep-alive connections, one request in flight on each.

The benchmarks run the API, PostgreSQL and the load generator on the same small machine,
so every microsecond the client spends is taken from the server under test. A general
client such as aiohttp costs about 0.4 ms of CPU per request here, a third of what the
API itself spends on a create; this one writes pre-built request bytes to a socket and
reads the answer with httptools (the C parser uvicorn uses), at a small fraction of that,
as wrk or h2load would. Each run reports the client's own CPU per request beside the rate.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
import uvloop


@dataclass
class LoadResult:
    requests: int
    seconds: float
    client_cpu_per_request: float  # seconds of this process's CPU per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `send` writes a request and answers (status, body)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("the server closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        answer, body = self.answer, b"".join(self.body)
        self.body = []
        if answer is not None and not answer.done():
            answer.set_result((self.parser.get_status_code(), body))

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer


def request_bytes(
    method: str, url: str, headers: dict[str, str], body: bytes = b""
) -> Callable[[bytes], bytes]:
    """A function of a body answering the full request bytes (headers built once)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    head_bytes = head.encode("latin-1")

    def build(content: bytes = body) -> bytes:
        return head_bytes + b"Content-Length: %d\r\n\r\n" % len(content) + content

    return build


def run_load(
    base_url: str,
    make_request: Callable[[int, int], bytes],
    *,
    clients: int,
    duration: float,
    expect: int,
) -> LoadResult:
    """`clients` connections, each sending `make_request(client, i)` back to back for
    `duration` seconds; every answer must have status `expect`."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def main() -> LoadResult:
        loop = asyncio.get_running_loop()
        done = 0

        async def client(n: int) -> None:
            nonlocal done
            _, connection = await loop.create_connection(_Connection, host, port)
            try:
                i = 0
                while time.monotonic() < deadline:
                    status, body = await connection.send(make_request(n, i))
                    if status != expect:
                        raise RuntimeError(f"expected {expect}, got {status}: {body[:300]!r}")
                    done += 1
                    i += 1
            finally:
                if connection.transport is not None:
                    connection.transport.close()

        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(*(client(n) for n in range(clients)))
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        spent = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
        return LoadResult(done, seconds, spent / max(done, 1))

    return uvloop.run(main())
