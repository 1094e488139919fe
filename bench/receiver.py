"""A fast webhook receiver for benchmarks: answers 200, notes when each entity arrived.

`python -m bench.receiver PORT`; `GET /stats` answers the count and the first and last
arrival (wall-clock seconds), `GET /stats?arrivals` also `{entity_id: arrival}`. A POST to
a path under `/hang` is never answered (an endpoint that hangs until the sender's timeout);
it is counted in `hanging` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import msgspec
from aiohttp import web

arrivals: dict[str, float] = {}
stats = {"count": 0, "first": 0.0, "last": 0.0, "hanging": 0}
HANG_SECONDS = 3600.0


class Entity(msgspec.Struct):
    id: str


class Envelope(msgspec.Struct):
    entity: Entity


decode = msgspec.json.Decoder(Envelope).decode


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    if request.path.startswith("/hang"):
        stats["hanging"] += 1
        await asyncio.sleep(HANG_SECONDS)
    now = time.time()
    stats["count"] += 1
    stats["first"] = stats["first"] or now
    stats["last"] = now
    with contextlib.suppress(msgspec.DecodeError):
        arrivals.setdefault(decode(body).entity.id, now)
    return web.Response(text="ok")


async def report(request: web.Request) -> web.Response:
    if "arrivals" in request.query:
        return web.json_response({**stats, "arrivals": arrivals})
    return web.json_response(stats)


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    app.router.add_get("/stats", report)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
