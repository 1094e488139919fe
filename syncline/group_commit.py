"""Group commit: concurrent saves share one event-store transaction.

The event store serializes writers with a table lock (so notification ids follow commit
order), which caps one-transaction-per-save throughput at one lock hold per commit. A
few flusher threads per process instead each take every save waiting at that moment and
insert them in one transaction: the lock and the fsync are paid once per batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

log = logging.getLogger(__name__)
MAX_BATCH_EVENTS = 500
# Flushers per process. More than one lets a batch travel to the server and wait for the
# table lock while the previous batch commits, so client-side latency overlaps the lock.
FLUSHERS = 1


@dataclass
class _Pending:
    events: Sequence[StoredEvent]
    done: threading.Event = field(default_factory=threading.Event)
    ids: Sequence[int] | None = None
    error: BaseException | None = None


class GroupCommitRecorder:
    """Wraps an eventsourcing ApplicationRecorder; everything but inserts passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if any(value is not None for value in kwargs.values()) or not stored_events:
            # Tracked (process-application) inserts keep their own transaction.
            return self._inner.insert_events(stored_events, **kwargs)
        pending = _Pending(stored_events)
        with self._cond:
            if self._closed:
                return self._inner.insert_events(stored_events)
            if not self._threads:
                for i in range(FLUSHERS):
                    thread = threading.Thread(
                        target=self._flush_forever, name=f"group-commit-{i}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
            self._queue.append(pending)
            self._cond.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.ids

    def _flush_forever(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch: list[_Pending] = []
                size = 0
                while self._queue and (
                    not batch or size + len(self._queue[0].events) <= MAX_BATCH_EVENTS
                ):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += len(item.events)
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            ids = self._inner.insert_events([e for p in batch for e in p.events])
        except IntegrityError as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
            else:
                # One save conflicted; retry each alone so only it sees the error.
                for item in batch:
                    self._flush([item])
            return
        except BaseException as exc:  # the caller must see every failure
            for item in batch:
                self._finish(item, error=exc)
            return
        offset = 0
        for item in batch:
            count = len(item.events)
            self._finish(item, ids=list(ids[offset : offset + count]) if ids else None)
            offset += count

    @staticmethod
    def _finish(
        item: _Pending, *, ids: Sequence[int] | None = None, error: BaseException | None = None
    ) -> None:
        item.ids, item.error = ids, error
        item.done.set()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
