"""The garbage collector's state for a service's steady state, set once its start-up is done.

Measured in the tick-to-trade bench's stack (gc.callbacks, 1000 events/s, a loaded 2-core VM):
start-up leaves every process with a large old generation, and its one full collection took
43–109 ms; a full collection in the steady state would walk all of it again. Freezing what
start-up built (modules, config, engines) takes it out of every later collection. The price: a reference
cycle among those objects that becomes garbage later (an engine chain replaced by a config reload)
is not reclaimed; what start-up builds mostly lives as long as the process anyway.

Then the collector runs at the loop's idle moments rather than inside whichever message happens to
allocate past its threshold: in the adapter, a young collection (~0.2 ms, every ~120 orders) and
a gen1 one (1.6–5.6 ms, every ~1,300) landed on an order's path. The thresholds stay CPython's
defaults: raised to 10,000, the adapter collected 16 times less often but each young collection
took 3–6 ms. A flood that leaves no idle moment gets its collection inline after FORCED_AFTER
thresholds' worth of allocations, so memory stays bounded.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

FORCED_AFTER = 10
"""Gen0 thresholds' worth of allocations after which a collection runs inline, idle moment or not."""


def settle_heap() -> None:
    """Collect what start-up left behind and freeze the survivors, so no later collection walks them."""
    gc.collect()
    gc.freeze()


class IdleCollector:
    """The collector's policy (the oldest generation past its threshold), run when the loop is idle.

    `after_turn` is called after every loop turn; once gen0 is past its threshold it asks `when_idle`
    for one collection. Automatic collection must be off (gc.disable()) for this to be the only one."""

    def __init__(self, when_idle: Callable[[Callable[[], None]], None]) -> None:
        self._when_idle = when_idle
        self._thresholds = gc.get_threshold()
        self._asked = False

    def after_turn(self) -> None:
        allocated = gc.get_count()[0]
        if allocated < self._thresholds[0]:
            return
        if allocated >= FORCED_AFTER * self._thresholds[0]:
            self.collect()
        elif not self._asked:
            self._asked = True
            self._when_idle(self.collect)

    def collect(self) -> None:
        """Collect the oldest generation whose count is past its threshold, as CPython would."""
        self._asked = False
        counts = gc.get_count()
        generation = 2 if counts[2] >= self._thresholds[2] else 1 if counts[1] >= self._thresholds[1] else 0
        gc.collect(generation)
