"""Garbage-collector settings for long-running processes (workers, replays, API servers)
that churn through many objects."""

from __future__ import annotations

import gc

# Collect the youngest generation after this many net container allocations (CPython's
# default is 700). A projection batch decodes about 20 containers per event, so with the
# default most of a batch's objects were scanned two or three times while still in use.
YOUNG_THRESHOLD = 10_000
# In the processes that catch projections up (`syncline worker`, `syncline replay`): the
# runners hold several decoded batches and the shared text of 16,384 events, all alive,
# so each young collection traversed what was still in use, and every tenth pushed it
# through the middle generation again. Measured on 2026-12-06 (one process catching up
# every projection of a worker on 20,000 events, CPU time in the collector): 10.5-18.6 us
# per event at 10,000, 4.0-6.4 us at 100,000. A young collection then pauses the process
# for up to 40 ms while it catches up; live, few objects are alive at a collection.
CATCH_UP_YOUNG_THRESHOLD = 100_000


def settle_heap(young: int = YOUNG_THRESHOLD) -> None:
    """Freeze what start-up made (modules, app, pools: never garbage) out of the collector's
    sight, and collect the young generation less often.

    Measured on a projection catch-up: full collections scanned the whole start-up heap
    (about 2.5 us per event) and young collections another 1-2 us per event; after this,
    collections cost about 0.1 us per event. Cyclic garbage is still collected; it waits
    for `young` net allocations instead of 700 (CATCH_UP_YOUNG_THRESHOLD in the processes
    that catch projections up).
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, oldest)
