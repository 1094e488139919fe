"""The one poller: wait for a condition, with a timeout, instead of sleeping a fixed time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(
    condition: Callable[[], Any],
    timeout: float = 20.0,
    *,
    interval: float = 0.05,
    changed: threading.Condition | None = None,
) -> bool:
    """Whether `condition()` became true within `timeout` seconds.

    With `changed`, waits on that condition variable (held while `condition` runs) between
    checks, so a notify ends the wait at once; otherwise sleeps `interval` between checks.
    """
    deadline = time.monotonic() + timeout
    if changed is not None:
        with changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                changed.wait(min(remaining, interval))
        return True
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, interval))
    return True


def eventually(
    condition: Callable[[], Any], what: str, timeout: float = 20.0, *, interval: float = 0.05
) -> None:
    """Wait until `condition()` is true, or fail the test naming `what` it waited for."""
    if not wait_until(condition, timeout, interval=interval):
        raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
