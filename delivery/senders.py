"""Senders: the delivery worker's sender tasks, and the replacing of slow ones.

A worker sends with `concurrency` tasks, each one request at a time. A task whose request
has taken `slow_after` is replaced by a new task at once, and retires when its request
ends: an endpoint that hangs until the timeout holds its own in-flight limit of requests
(delivery.slots), never the senders the other endpoints' deliveries need. At most
`concurrency` slow requests wait so at once (the worker opens as many connections again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

Task = asyncio.Task[None]


class Senders:
    def __init__(self, concurrency: int, slow_after: float) -> None:
        self.concurrency = concurrency
        self.slow_after = slow_after
        self.tasks: list[Task] = []
        self._started: dict[Task, float] = {}  # a task's request in flight, and its start
        self._replaced: set[Task] = set()  # slow, their request still in flight
        self._watch: Task | None = None
        self._run: Callable[[], Coroutine[Any, Any, None]] = _nothing

    def start(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """`run`: a sender's loop, which calls `begin` before each request and returns when
        `end` after it says so (or when it is told to stop)."""
        self._run = run
        for _ in range(self.concurrency):
            self._add()
        self._watch = asyncio.create_task(self._replace_slow())

    @property
    def busy(self) -> int:
        """Senders in the middle of a request, the replaced ones left out."""
        return len(self._started) - len(self._replaced)

    @property
    def serving(self) -> int:
        """Senders that will take another delivery: how many stops `stop` must hand out."""
        return len(self.tasks) - len(self._replaced)

    def begin(self, me: Task) -> None:
        """Before the request of the sender `me` (its task). Plain calls, not a context
        manager that looks its task up: they run for every delivery."""
        self._started[me] = time.monotonic()

    def end(self, me: Task) -> bool:
        """After it: whether a new sender took `me`'s place while the request was slow (it
        should return then)."""
        del self._started[me]
        if me in self._replaced:
            self._replaced.discard(me)
            return True
        return False

    def stop_replacing(self) -> None:
        if self._watch is not None:
            self._watch.cancel()

    def cancel(self) -> None:
        self.stop_replacing()
        for task in list(self.tasks):
            task.cancel()

    def _add(self) -> None:
        task = asyncio.create_task(self._run())
        self.tasks.append(task)
        task.add_done_callback(self.tasks.remove)

    async def _replace_slow(self) -> None:
        while True:
            await asyncio.sleep(self.slow_after / 2)
            now = time.monotonic()
            for task, started in list(self._started.items()):
                if len(self._replaced) >= self.concurrency:
                    break
                if now - started >= self.slow_after and task not in self._replaced:
                    self._replaced.add(task)
                    self._add()


async def _nothing() -> None:
    return None
