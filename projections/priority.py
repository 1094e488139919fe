"""CatchUpOrder: how a worker's projections catch up on a backlog together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from projections.log_reader import DEFAULT_BATCH, FRONTIER

# The longest a runner waits for its turn before each batch.
DEFAULT_MAX_WAIT = 5.0
# How often a projection that catches up later looks again whether a first-rank projection
# led by another process is still catching up.
ELSEWHERE_POLL = 0.25
# A tracking row that moved this recently belongs to a projection someone is running (the
# runtime adds the catch-up wait: a first-rank runner may itself wait that long between
# batches, to keep together with its rank).
ELSEWHERE_FRESH = 2.0
# The longest the question waits for a pooled connection.
POOL_TIMEOUT = 1.0

log = logging.getLogger(__name__)


def spread_for(batch_size: int = DEFAULT_BATCH) -> int:
    """How far (in log positions) a projection catching up may run ahead of a slower one
    of its rank: half the batches a LogReader keeps at its frontier, at the runners' batch
    size."""
    return FRONTIER // 2 * batch_size


class CatchUpOrder:
    """Who goes first, and who keeps together, when a worker's projections are behind.

    A worker runs its projections as threads of one process: they share one interpreter
    lock and, on a small machine, the database server's CPU. When a backlog arrives (a bulk
    import, a worker back after downtime) they all catch up at once. Two rules decide how:

    * **The first go first.** Integrations wait on the change feed they poll and on the
      delivery subscriber that queues their webhooks. Record lists and the event log serve
      people browsing and auditing, tenants the operator's listings: they can trail for the
      seconds a catch-up takes. So a projection that `catches_up_later` (those three) waits
      before each batch while another projection is catching up (working through full
      batches).
    * **Keep together.** Decoding a batch of the log costs more than most projections'
      own work, and the LogReader decodes it once for all while they ask for it within a
      few batches of each other. A cheap projection left to run ahead (the delivery
      subscriber) leaves the slow ones to decode the log again. So a projection
      catching up waits while another of its rank, also catching up, is more than `spread`
      positions behind it.

    Every wait ends after `max_wait` seconds, so each projection still moves a batch per
    `max_wait` at least, even behind one stuck on an event it cannot process (that one
    stops catching up when its batch fails). With `max_wait` 0 nobody waits.

    The runners of one process know of each other. Workers share only the database, and
    the leaders of a deployment's projections are spread over its workers (each takes the
    locks it gets first), so with `elsewhere` (see `CatchingUpElsewhere`) a projection that
    catches up later also waits, within the same bound, while a first-rank projection led
    by another process is catching up. Keeping together stays within a process: it is
    about one process's log reader.
    """

    def __init__(
        self,
        max_wait: float = DEFAULT_MAX_WAIT,
        spread: int | None = None,
        elsewhere: Callable[[], bool] | None = None,
        on_caught_up: Callable[[], object] | None = None,
    ) -> None:
        self.max_wait = max_wait
        self.spread = spread_for() if spread is None else spread
        self.elsewhere = elsewhere
        # Called when the last runner catching up stops (the LogReader's release).
        self.on_caught_up = on_caught_up
        # The runners catching up: name -> (catches up later, position before its batch).
        self._behind: dict[str, tuple[bool, int]] = {}
        self._changed = threading.Condition()

    def before_batch(
        self, name: str, *, later: bool, position: int, full: bool, stop: threading.Event
    ) -> None:
        """Called by a runner before each batch (`full`: of `batch_size` events, so still
        catching up): records where it is, then waits for its turn (or `stop`)."""
        deadline = time.monotonic() + self.max_wait
        with self._changed:
            if full:
                self._behind[name] = (later, position)
                self._changed.notify_all()
            elif self._behind.pop(name, None) is not None:
                self._changed.notify_all()
                self._if_caught_up()
            if self.max_wait > 0:
                self._changed.wait_for(
                    lambda: (
                        stop.is_set()
                        or self._may_go(name, later=later, position=position, full=full)
                    ),
                    timeout=self.max_wait,
                )
        if later and full and self.elsewhere is not None and self.max_wait > 0:
            # Nobody can wake us from another process: look again every ELSEWHERE_POLL,
            # within what is left of the same bound.
            while not stop.is_set() and deadline > time.monotonic() and self.elsewhere():
                stop.wait(min(ELSEWHERE_POLL, max(0.0, deadline - time.monotonic())))

    def done(self, name: str) -> None:
        """`name` reached the head, stopped or failed: nobody waits for it any longer."""
        with self._changed:
            if self._behind.pop(name, None) is not None:
                self._changed.notify_all()
                self._if_caught_up()

    def _if_caught_up(self) -> None:
        """Tell `on_caught_up` when nobody is catching up any longer (under the lock)."""
        if not self._behind and self.on_caught_up is not None:
            self.on_caught_up()

    def catching_up(self) -> dict[str, int]:
        """The projections catching up now, and their positions."""
        with self._changed:
            return {name: position for name, (_, position) in self._behind.items()}

    def wake(self) -> None:
        """End every wait now (a runner is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def _may_go(self, name: str, *, later: bool, position: int, full: bool) -> bool:
        for other, (other_later, other_position) in self._behind.items():
            if other == name:
                continue
            if later and not other_later:
                return False  # the first go first
            if full and other_later == later and other_position + self.spread < position:
                return False  # keep together
        return True


class CatchingUpElsewhere:
    """Whether a first-rank projection (`names`) is catching up, in whatever process leads
    it: its tracking row moved in the last `fresh` seconds, so a runner is working on it,
    and is still more than `behind` positions short of the log's head. A first-rank
    projection that no process runs, or whose leader died, stops counting after `fresh`
    seconds, and one that is merely a batch or two behind never counts.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any],
        head: Callable[[], int],
        names: Sequence[str],
        behind: int,
        fresh: float = ELSEWHERE_FRESH,
    ) -> None:
        self.pool = pool
        self.head = head
        self.names = list(names)
        self.behind = behind
        self.fresh = fresh

    def __call__(self) -> bool:
        """True while one is; False also when the database cannot say (the question is
        advisory: a runner must not lose its lead, or wait on a pool, for it)."""
        if not self.names:
            return False
        try:
            short_of = self.head() - self.behind
            if short_of <= 0:
                return False
            with self.pool.connection(timeout=POOL_TIMEOUT) as conn:
                row = conn.execute(
                    "SELECT EXISTS (SELECT FROM projection_tracking WHERE name = ANY(%s)"
                    " AND position < %s AND updated_at > now() - make_interval(secs => %s))",
                    (self.names, short_of, self.fresh),
                ).fetchone()
        except Exception as exc:  # any failure means "not known to be"
            log.warning("could not tell whether the first rank is catching up: %s", exc)
            return False
        return bool(row and row[0])
