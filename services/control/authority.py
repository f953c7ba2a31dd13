"""StormGuardAuthority: the single source of the authoritative StormGuard state, sequenced.

In this skeleton every scope stays NORMAL; proposals and operator overrides merge here later.
"""

from __future__ import annotations

from contracts.enums import StormGuardLevel
from contracts.messages import StormGuardState
from services.runtime.clock import Clock


class StormGuardAuthority:
    def __init__(self, clock: Clock, strategy_ids: list[str]) -> None:
        self.clock = clock
        self.global_level = StormGuardLevel.NORMAL
        self.strategy_levels = dict.fromkeys(strategy_ids, StormGuardLevel.NORMAL)
        self.hold_fire = False
        self.seq = 0

    def broadcast(self) -> StormGuardState:
        """The full state with the next sequence number: sent every interval and after each change."""
        self.seq += 1
        return self.current()

    def current(self) -> StormGuardState:
        """The full state under the last sequence number sent (what a late joiner should apply)."""
        return StormGuardState(
            seq=self.seq, global_level=self.global_level, strategy_levels=dict(self.strategy_levels),
            hold_fire=self.hold_fire, ts_ns=self.clock.wall_ns(),
        )
