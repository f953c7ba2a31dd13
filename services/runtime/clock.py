"""The clock every engine takes in its constructor, so tests can drive time by hand.

`wall_ns` is for records (what time it was); `mono_ns` is CLOCK_MONOTONIC, the same clock in
every process on a host, for latency, windows, deadlines and dwell.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def wall_ns(self) -> int: ...

    def mono_ns(self) -> int: ...


class SystemClock:
    """The real clocks: time.time_ns and time.monotonic_ns."""

    wall_ns = staticmethod(time.time_ns)
    mono_ns = staticmethod(time.monotonic_ns)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, mono_ns: int = 1_000_000_000, wall_ns: int = 1_760_000_000_000_000_000) -> None:
        self._mono_ns = mono_ns
        self._wall_ns = wall_ns

    def wall_ns(self) -> int:
        return self._wall_ns

    def mono_ns(self) -> int:
        return self._mono_ns

    def advance(self, delta_ns: int) -> None:
        if delta_ns < 0:
            raise ValueError("a clock never goes back")
        self._mono_ns += delta_ns
        self._wall_ns += delta_ns


class Scheduler(Protocol):
    """Runs a callback later on the caller's own thread: ServiceLoop.call_later in a service."""

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> None: ...


class ManualScheduler:
    """A Scheduler on a FakeClock: callbacks run, in due order, only inside `advance` or `run_due`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.clock.mono_ns() + max(0, delay_ns), next(self._order), callback))

    @property
    def pending(self) -> int:
        return len(self._timers)

    def run_due(self) -> int:
        """Run every callback due by now, including ones they schedule for now; returns how many ran."""
        ran = 0
        while self._timers and self._timers[0][0] <= self.clock.mono_ns():
            heapq.heappop(self._timers)[2]()
            ran += 1
        return ran

    def advance(self, delta_ns: int) -> int:
        """Move the clock forward, firing each timer at its own due time on the way; returns how many ran."""
        end_ns = self.clock.mono_ns() + delta_ns
        ran = 0
        while self._timers and self._timers[0][0] <= end_ns:
            due_ns = self._timers[0][0]
            if due_ns > self.clock.mono_ns():
                self.clock.advance(due_ns - self.clock.mono_ns())
            ran += self.run_due()
        if end_ns > self.clock.mono_ns():
            self.clock.advance(end_ns - self.clock.mono_ns())
        return ran
