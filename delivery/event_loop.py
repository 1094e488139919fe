"""The event loop the delivery worker sends on (and the benchmarks' bare client, so that the
two differ only in the worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it comes with `uvicorn[standard]`), else asyncio's: it
    cuts the event loop's share of each request (timers, socket writes, polling)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on some platforms
        return None
    return uvloop.new_event_loop
