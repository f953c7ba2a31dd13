"""The clock every engine takes in its constructor, so tests can drive time by hand.

`wall_ns` is for records (what time it was); `mono_ns` is CLOCK_MONOTONIC, the same clock in
every process on a host, for latency, windows, deadlines and dwell.
"""

from __future__ import annotations

import time
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
