"""Waiting on a running stack: poll a condition until it holds, with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

DEADLINE_S = 30.0
POLL_S = 0.05

T = TypeVar("T")


def wait_until(what: str, condition: Callable[[], T | None], deadline_s: float = DEADLINE_S,
               check: Callable[[], None] = lambda: None) -> T:
    """Poll `condition` until it returns something truthy and return it; `check` runs first each
    round (e.g. LocalStack.check_alive, so a dead service fails at once); fail naming `what` and the
    last answer at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        check()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s}s: {what} (last: {value!r})")
        time.sleep(POLL_S)
