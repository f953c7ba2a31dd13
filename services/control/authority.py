"""StormGuardAuthority: the single source of the authoritative StormGuard state, sequenced.

Risk computes each scope's level (drawdown, broker usage, breaker) and proposes every change;
the authority applies proposals in arrival order, records each transition, and broadcasts the
full state with a new sequence number on every change and on a timer. Loosening reaches the
other services only through this broadcast: risk acts on the stricter of its own view and this.
Operator overrides (force, hold fire) merge here with the control-plane issue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from contracts.enums import StormGuardLevel
from contracts.messages import GLOBAL_SCOPE, StormGuardProposal, StormGuardState
from services.runtime.clock import Clock

TRANSITIONS_KEPT = 1000


@dataclass(frozen=True, slots=True)
class RecordedTransition:
    scope: str
    from_level: StormGuardLevel
    to_level: StormGuardLevel
    reason: str
    ts_ns: int


class StormGuardAuthority:
    def __init__(self, clock: Clock, strategy_ids: list[str]) -> None:
        self.clock = clock
        self.levels: dict[str, StormGuardLevel] = dict.fromkeys([GLOBAL_SCOPE, *strategy_ids],
                                                                 StormGuardLevel.NORMAL)
        self.hold_fire = False
        self.seq = 0
        self.transitions: deque[RecordedTransition] = deque(maxlen=TRANSITIONS_KEPT)

    def apply_proposal(self, proposal: StormGuardProposal) -> RecordedTransition | None:
        """Take risk's level for a scope; the transition if it changed anything."""
        previous = self.levels.get(proposal.scope, StormGuardLevel.NORMAL)
        if previous is proposal.level:
            return None
        self.levels[proposal.scope] = proposal.level
        transition = RecordedTransition(proposal.scope, previous, proposal.level, proposal.reason,
                                        self.clock.wall_ns())
        self.transitions.append(transition)
        return transition

    def broadcast(self) -> StormGuardState:
        """The full state with the next sequence number: sent every interval and after each change."""
        self.seq += 1
        return self.current()

    def current(self) -> StormGuardState:
        """The full state under the last sequence number sent (what a late joiner should apply)."""
        return StormGuardState(
            seq=self.seq, global_level=self.levels[GLOBAL_SCOPE],
            strategy_levels={scope: level for scope, level in self.levels.items() if scope != GLOBAL_SCOPE},
            hold_fire=self.hold_fire, ts_ns=self.clock.wall_ns(),
        )
