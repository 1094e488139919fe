"""LiveGroup: a process's projections at the head of the log, committed together.

Live, the log grows by a few events at a time. A projection on its own would read and
decode each of them and commit a transaction for every few: several transactions per event
across a worker's projections. Every runner of a process that reaches the head hands its
projection to the process's one LiveGroup instead, whose thread:

* waits for a notification from the event store (or `poll_interval`), then, while events
  keep coming (the last batch is less than BUSY seconds old), lingers `linger` seconds so
  that what arrives meanwhile joins the batch: batches grow with the arrival rate, the
  first event after a quiet spell goes at once, and an idle log costs nothing;
* in ONE transaction reads the log after the lowest position of its members (decoding
  each event once for all of them), has each projection of the first rank (the change
  feed, webhooks: those that do not `catch_up_later`) write the events after its own
  position, and moves their tracking rows to the batch's end; then, in a second
  transaction, the same for the projections that catch up later (the event log, the audit
  chain, tenants, webhook settings), from the same decoded batch. The feed and webhooks
  never wait for the heavier read models (measured: with everything in one transaction,
  webhook latency p99 at 100 creates/s went from 65 to 450-640 ms on the benchmark
  machine). With `by_rank=False` (SYNCLINE_LIVE_COMMIT=together) every projection commits
  in the one transaction.
* writes the later rank at most every `later_linger` seconds (or once half a batch waits
  for it): the decoded events are kept for it meanwhile, so the first rank's next batches
  read only what is new. The later rank's statements (most of a batch's) are then paid
  once per hundreds of events instead of once per few, and an event reaches the event
  log and the audit chain within `later_linger` of the feed.

A full batch means a backlog: the group gives every projection back to its runner, which
catches up on its own, in the CatchUpOrder (the change feed and webhooks first), and
comes back at the head.

Failure isolation: when a combined transaction fails (not for a lost connection, which
is simply retried), the group retries the batch of its projections one by one, each in a
transaction of its own. Those that get through stay; one that fails is given back to its
runner with its error: the runner records the failure in `projection_tracking` and retries
with backoff on its own, and comes back once it gets past the event. The others never wait
for it.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from projections import tracking
from projections.connection import connection_lost
from projections.leadership import Seat
from projections.log_reader import DEFAULT_BATCH, GENERIC_PLAN, Batch, LogReader, continues
from projections.protocol import Projection

log = logging.getLogger(__name__)

# How long the group waits after a notification before it reads: what arrives meanwhile
# joins the batch. Short against the change feed's latency target (long-poll p99 50 ms).
DEFAULT_LINGER = 0.005
# The linger applies while events keep coming (a batch committed this recently): the first
# event after a quiet spell is written at once.
BUSY = 0.02
# The longest the later rank's read models trail the first rank's (a lone event's too).
DEFAULT_LATER_LINGER = 0.1
# After a lost connection, the group tries again after this long.
RECONNECT_DELAY = 0.2


class Member(Protocol):
    """What the group needs of a runner."""

    @property
    def name(self) -> str: ...

    projection: Projection
    on_batch: Any  # Callable[[str, int, int], None] | None


@dataclass(eq=False)
class _Seat:
    runner: Member
    seat: Seat
    position: int
    released: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


class LiveGroup:
    """Commits the live batches of a process's projections together (see the module)."""

    def __init__(
        self,
        reader: LogReader,
        pool: ConnectionPool,
        *,
        batch_size: int = DEFAULT_BATCH,
        linger: float = DEFAULT_LINGER,
        poll_interval: float = 1.0,
        by_rank: bool = True,
        later_linger: float = DEFAULT_LATER_LINGER,
    ) -> None:
        self.reader = reader
        self.by_rank = by_rank
        self.later_linger = later_linger
        self.pool = pool
        self.batch_size = batch_size
        self.linger = linger
        self.poll_interval = poll_interval
        self._members: dict[str, _Seat] = {}
        self._lock = threading.Lock()
        self._committing = threading.Lock()  # held by the group's thread during a batch
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # Statistics (benchmarks, tests): combined batches, and retries one by one.
        self.batches = 0
        self.split = 0
        self._last_batch = 0.0
        # Events read and decoded that the later rank has not written yet: those after
        # `_kept_after` up to `_kept_to` (the last position read), since `_later_since`.
        self._kept: Batch = []
        self._kept_after: int | None = None
        self._kept_to = 0
        self._later_since: float | None = None

    def wake(self) -> None:
        """The log may have grown (a notification on the event store's channel)."""
        self._wake.set()

    def follow(self, runner: Member, seat: Seat, position: int) -> Exception | None:
        """Carry `runner`'s projection from `position` (the head, as far as it knows)
        until the group gives it back: answers None (a backlog, a lost lead, a stop) or
        the error its projection failed with."""
        member = _Seat(runner, seat, position)
        with self._lock:
            self._members[runner.name] = member
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-group", daemon=True)
                self._thread.start()
        self._wake.set()
        member.released.wait()
        return member.error

    def leave(self, name: str) -> None:
        """Give projection `name` back now (its runner stops); waits for a batch in
        progress, so nothing is written for it once this returns."""
        with self._committing, self._lock:
            member = self._members.pop(name, None)
        if member is not None:
            member.released.set()

    def members(self) -> list[str]:
        with self._lock:
            return sorted(self._members)

    def _release(self, member: _Seat, error: Exception | None = None) -> None:
        with self._lock:
            if self._members.get(member.runner.name) is member:
                del self._members[member.runner.name]
        member.error = error
        member.released.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._members:
                    self._thread = None
                    return
            timeout = self.poll_interval
            if self._later_since is not None:  # the later rank is due then
                due = self._later_since + self.later_linger - time.monotonic()
                timeout = max(0.0, min(timeout, due))
            woken = self._wake.wait(timeout)
            if woken and self.linger > 0 and time.monotonic() - self._last_batch < BUSY:
                time.sleep(self.linger)  # a stream: let what follows join the batch
            self._wake.clear()
            with self._committing:
                with self._lock:
                    members = list(self._members.values())
                for member in members:
                    if not member.seat.leading.is_set():
                        self._release(member)  # its runner waits for the lead again
                members = [m for m in members if not m.released.is_set()]
                if members:
                    self._step(members)

    def _step(self, members: list[_Seat]) -> None:
        """One batch for `members`: each rank together in one transaction (the first rank's
        also reads what is new), else one by one; the later rank only when it is due."""
        ranks = _ranks(members) if self.by_rank else [members]
        start = min(m.position for m in members)
        kept = self._kept_since(start)
        fresh: Batch | None = None
        batch: Batch = []
        try:
            with (
                self.pool.connection() as conn,
                conn.transaction(),
                conn.cursor() as cur,
            ):
                after = start if kept is None else self._kept_to
                # Generic plans for the whole transaction (the read sets them).
                fresh = self.reader.read_on(conn, after, self.batch_size)
                batch = [*(kept or ()), *fresh]
                # Nothing new, or a backlog (handled below, once this read-only one ends).
                if batch and not continues(fresh, self.batch_size):
                    _write(cur, ranks[0], batch)
        except Exception as exc:
            self._forget()
            if fresh is None or connection_lost(exc):
                self._not_read(members, exc)
                return
            if not batch or continues(fresh, self.batch_size):
                return  # only the read's commit failed: read again
            self._failed(ranks[0], batch, exc)
        else:
            if continues(fresh, self.batch_size):
                self._forget()
                for member in members:
                    self._release(member)  # a backlog: each catches up in the CatchUpOrder
                return
            if not batch:
                return
            for member in ranks[0]:
                _advanced(member, batch)
        if fresh:
            self._last_batch = time.monotonic()
            self.batches += 1
        for rank in ranks[1:]:
            if not self._later_due(rank, batch):
                continue  # kept for it: written with what follows
            self._forget()
            try:
                with (
                    self.pool.connection() as conn,
                    conn.transaction(),
                    conn.cursor() as cur,
                ):
                    cur.execute(GENERIC_PLAN)  # as the first rank's read sets them
                    _write(cur, rank, batch)
            except Exception as exc:
                if connection_lost(exc):
                    self._not_read(rank, exc)  # retried from its position next time
                    continue
                self._failed(rank, batch, exc)
                continue
            for member in rank:
                _advanced(member, batch)
        # What arrived meanwhile has woken the group already (its NOTIFY came after the
        # wake-up was cleared, before this batch was read).

    def _kept_since(self, start: int) -> Batch | None:
        """The kept events after `start`, when they are all of the log from `start` to the
        last position read; None: read from `start` (nothing kept, or not from there)."""
        if self._kept_after is None or not self._kept_after <= start <= self._kept_to:
            return None
        return _after(self._kept, start)

    def _later_due(self, rank: list[_Seat], batch: Batch) -> bool:
        """Whether the later `rank` writes `batch` now; else its events are kept for it."""
        low = min(m.position for m in rank)
        waiting = len(_after(batch, low))
        if not waiting:
            return False
        now = time.monotonic()
        since = self._later_since
        if (
            self.later_linger > 0
            and waiting < self.batch_size // 2
            and (since is None or now - since < self.later_linger)
        ):
            self._kept, self._kept_after, self._kept_to = _after(batch, low), low, batch[-1][0]
            self._later_since = now if since is None else since
            return False
        return True

    def _forget(self) -> None:
        """Drop the kept events: the next batch reads from the lowest position again."""
        self._kept, self._kept_after, self._kept_to, self._later_since = [], None, 0, None

    def _not_read(self, members: list[_Seat], exc: Exception) -> None:
        """The batch was not read, or a connection was lost: try again (a lost connection
        is retried by the group; anything else by each runner on its own)."""
        if connection_lost(exc):
            log.warning("the live group lost a connection; retrying", extra={"error": str(exc)})
            time.sleep(RECONNECT_DELAY)
            self._wake.set()
            return
        for member in members:
            self._release(member)  # their runners read and retry on their own

    def _failed(self, members: list[_Seat], batch: Batch, exc: Exception) -> None:
        log.warning(
            "a combined live batch failed; retrying it projection by projection",
            extra={"error": str(exc), "projections": [m.runner.name for m in members]},
        )
        self.split += 1
        self._one_by_one(members, batch)

    def _one_by_one(self, members: list[_Seat], batch: Batch) -> None:
        for member in members:
            try:
                with (
                    self.pool.connection() as conn,
                    conn.transaction(),
                    conn.cursor() as cur,
                ):
                    _write(cur, [member], batch)
            except Exception as exc:
                # Its runner records the failure and retries on its own (with backoff);
                # a lost connection or lead is no failure: the runner simply goes on.
                lost = connection_lost(exc) or isinstance(exc, tracking.LeadershipLostError)
                self._release(member, None if lost else exc)
                continue
            _advanced(member, batch)


def _ranks(members: list[_Seat]) -> list[list[_Seat]]:
    """The first rank (the change feed, webhooks), then those that catch up later."""
    first = [m for m in members if not m.runner.projection.catches_up_later]
    later = [m for m in members if m.runner.projection.catches_up_later]
    return [rank for rank in (first, later) if rank]


def _after(batch: Batch, position: int) -> Batch:
    """The events of `batch` after `position`."""
    return batch[bisect_right(batch, position, key=lambda event: event[0]) :]


def _write(cur: Any, members: list[_Seat], batch: Batch) -> None:
    """Each member's projection writes the events of `batch` after its position, and their
    tracking rows move to the batch's end in one statement (in the caller's transaction)."""
    last = batch[-1][0]
    behind = [member for member in members if member.position < last]
    for member in behind:
        events = _after(batch, member.position)
        projection = member.runner.projection
        if events:
            projection.write(cur, projection.prepare(events))
    tracking.advance_many(cur, [(m.runner.name, m.position) for m in behind], last)


def _advanced(member: _Seat, batch: Batch) -> None:
    last = batch[-1][0]
    if member.position >= last:
        return
    count = len(_after(batch, member.position))
    member.position = last
    if member.runner.on_batch is not None:
        member.runner.on_batch(member.runner.name, count, last)
