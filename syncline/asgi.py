"""ASGI entry point for process managers (`uvicorn --factory syncline.asgi:create`)."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app
from syncline.allocator import keep_freed_memory
from syncline.config import settings_or_refusal
from syncline.garbage_collection import settle_heap
from syncline.logs import configure_logging
from syncline.runtime import Runtime


def create() -> Litestar:
    """An API app with its own Runtime, closed when the server shuts down. A setting that
    is not allowed: one line on standard error, exit status 2 (as `syncline serve`)."""
    settings = settings_or_refusal()
    if settings is None:
        raise SystemExit(2)
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime.open(settings, role="api")
    app = create_app(runtime.api_services())
    app.on_shutdown.append(runtime.close)
    settle_api_process()
    return app


def settle_api_process() -> None:
    """Once an API process has started (`syncline serve`, or each of its workers): keep
    large freed blocks (see syncline.allocator) and settle the heap as a worker does
    (creates +8%, feed pages +4%, in alternated pairs)."""
    keep_freed_memory()
    settle_heap()
