"""New aggregate ids: UUIDv7 (RFC 9562), whose leading bits are the time of creation.

The event store's primary key, the records read model's and the change feed's keys are a
record's id: with random (version 4) ids every insert lands on a random page of each of
those indexes, and once they outgrow shared buffers every checkpoint makes the next write
to each page log a full-page image. Ids that follow time keep the inserts on the right-hand
pages, as a sequence would, and the id stays unguessable (74 random bits).

Made here rather than taken from a package: `uuid.uuid7` is Python 3.14's, and the small
packages that backport it keep ids monotonic by moving the timestamp forward one
millisecond per id, which runs ahead of the clock when more than one id a millisecond is
made (a bulk import). This is RFC 9562's method 1 (section 6.2): the 48-bit Unix time in
milliseconds, then a 42-bit counter (the 12 bits of `rand_a` and the top 30 of `rand_b`)
that starts at a random value below 2^41 each millisecond and counts up within it, then 32
random bits. Ids made by one process are strictly increasing.
"""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

_COUNTER_BITS = 42
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> UUID:
    """A new UUIDv7, greater than every id this process made before."""
    global _last_ms, _counter
    now = time.time_ns() // 1_000_000
    with _lock:
        if now > _last_ms:
            _last_ms = now
            # Seeded below 2^41: at least 2^41 more ids fit in this millisecond.
            _counter = int.from_bytes(os.urandom(6)) >> (48 - _COUNTER_BITS + 1)
        else:  # the same millisecond (or the clock stepped back): count on
            _counter += 1
            if _counter >> _COUNTER_BITS:  # not reachable in practice; stay monotonic
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | (counter >> 30) << 64  # rand_a: the counter's top 12 bits
        | 0b10 << 62  # the RFC 9562 variant
        | (counter & 0x3FFF_FFFF) << 32  # rand_b: the counter's low 30 bits, then random
        | int.from_bytes(os.urandom(4))
    )
    return UUID(int=value)
