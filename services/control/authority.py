"""StormGuardAuthority: the single source of the authoritative StormGuard state, versioned.

Risk computes each scope's level (drawdown, broker usage, breaker) and proposes every change; an
operator may force a scope to a level (a floor: the stricter of risk's and the operator's counts),
hold fire, pull the kill switch (cancel all) and enable or disable strategies. The authority merges
them into one state whose `seq` goes up by one on every change; the service broadcasts it on every
change and repeats it on a timer, and answers snapshot requests with it (the clone pattern).
Loosening reaches the other services only through this state: risk acts on the stricter of its own
view and this one, the adapter closes its gate on a global HALT, hold fire or cancel all.

Plain synchronous code with an injected clock; every mutator says whether the state changed, so the
caller broadcasts and saves it (`saved()`, `restore()`) only then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from contracts.enums import StormGuardLevel, stricter
from contracts.messages import GLOBAL_SCOPE, StormGuardProposal, StormGuardState
from services.runtime.clock import Clock

TRANSITIONS_KEPT = 1000
_NORMAL = StormGuardLevel.NORMAL


@dataclass(frozen=True, slots=True)
class RecordedTransition:
    scope: str
    from_level: StormGuardLevel
    to_level: StormGuardLevel
    reason: str
    ts_ns: int


class StormGuardAuthority:
    def __init__(self, clock: Clock, strategy_ids: list[str], epoch: int | None = None) -> None:
        self.clock = clock
        self.epoch = epoch if epoch is not None else clock.wall_ns()
        self.risk_levels: dict[str, StormGuardLevel] = dict.fromkeys([GLOBAL_SCOPE, *strategy_ids], _NORMAL)
        self.forced: dict[str, StormGuardLevel] = {}
        self.hold_fire = False
        self.cancel_all = False
        self.strategy_enabled: dict[str, bool] = {}
        self.config_versions: dict[str, str] = {}
        self.trading_day = ""
        """The desk's trading day risk last reported (RiskSnapshot): kept so a rollover is alerted once, across
        restarts of control too. Not part of the broadcast state."""
        self.seq = 1
        self.transitions: deque[RecordedTransition] = deque(maxlen=TRANSITIONS_KEPT)

    # -- reading

    @property
    def levels(self) -> dict[str, StormGuardLevel]:
        """The effective level of every scope: the stricter of risk's and the operator's forced one."""
        return {scope: stricter(level, self.forced.get(scope, _NORMAL)) for scope, level in self.risk_levels.items()}

    def level(self, scope: str) -> StormGuardLevel:
        return stricter(self.risk_levels[scope], self.forced.get(scope, _NORMAL))

    def current(self) -> StormGuardState:
        """The whole state under its version: what is broadcast, re-broadcast and given to late joiners."""
        levels = self.levels
        return StormGuardState(
            seq=self.seq, epoch=self.epoch, global_level=levels[GLOBAL_SCOPE],
            strategy_levels={scope: level for scope, level in levels.items() if scope != GLOBAL_SCOPE},
            hold_fire=self.hold_fire, cancel_all=self.cancel_all, strategy_enabled=dict(self.strategy_enabled),
            forced_levels=dict(self.forced), config_versions=dict(self.config_versions), ts_ns=self.clock.wall_ns(),
        )

    # -- risk's proposals

    def apply_proposal(self, proposal: StormGuardProposal) -> RecordedTransition | None:
        """Take risk's level for a scope; the transition of the effective level, if it moved."""
        return self._set_risk_level(proposal.scope, proposal.level, proposal.reason)

    def resync(self, risk_levels: dict[str, StormGuardLevel]) -> list[RecordedTransition]:
        """Risk's own levels from its periodic snapshot: what differs is a proposal this authority missed
        (dropped by the PUB, or sent while control was down)."""
        moved = []
        for scope, level in risk_levels.items():
            if self.risk_levels.get(scope) is not level:
                transition = self._set_risk_level(scope, level, "resync from risk's snapshot")
                if transition is not None:
                    moved.append(transition)
        return moved

    def _set_risk_level(self, scope: str, level: StormGuardLevel, reason: str) -> RecordedTransition | None:
        before = self.level(scope) if scope in self.risk_levels else _NORMAL
        previous = self.risk_levels.get(scope)
        if previous is level:
            return None
        self.risk_levels[scope] = level
        self.seq += 1
        return self._record(scope, before, reason)

    def set_trading_day(self, day: str) -> bool:
        """Risk's trading day; True if it is later than the one known (ISO dates order as strings)."""
        if not day or day <= self.trading_day:
            return False
        self.trading_day = day
        return True

    # -- the operator

    def force(self, scope: str, level: StormGuardLevel, who: str) -> RecordedTransition | None:
        """Force a scope to at least `level` (NORMAL lifts the operator's floor); KeyError for an unknown
        scope. The state changes even when the effective level does not (the floor is recorded)."""
        before = self.level(scope)
        if self.forced.get(scope, _NORMAL) is level:
            return None
        if level is _NORMAL:
            del self.forced[scope]
        else:
            self.forced[scope] = level
        self.seq += 1
        return self._record(scope, before, f"operator force {level} by {who}")

    def release(self, scope: str, who: str) -> RecordedTransition | None:
        """Lift the operator's floor on a scope (risk is asked separately to step its own HALT down)."""
        before = self.level(scope)
        if scope not in self.forced:
            return None
        del self.forced[scope]
        self.seq += 1
        return self._record(scope, before, f"operator release by {who}")

    def set_hold_fire(self, hold: bool) -> bool:
        return self._set_flag("hold_fire", hold)

    def set_cancel_all(self, cancel_all: bool) -> bool:
        return self._set_flag("cancel_all", cancel_all)

    def set_enabled(self, strategy_id: str, enabled: bool) -> bool:
        if self.strategy_enabled.get(strategy_id) is enabled:
            return False
        self.strategy_enabled[strategy_id] = enabled
        self.seq += 1
        return True

    def set_config_version(self, file: str, version: str) -> bool:
        """The version of a config file control validated; services running another one fetch it."""
        if self.config_versions.get(file) == version:
            return False
        self.config_versions[file] = version
        self.seq += 1
        return True

    def add_scopes(self, strategy_ids: list[str]) -> bool:
        """Scopes of strategies added to the config (a reload); existing ones keep their state."""
        added = [sid for sid in strategy_ids if sid not in self.risk_levels]
        for sid in added:
            self.risk_levels[sid] = _NORMAL
        if added:
            self.seq += 1
        return bool(added)

    def _set_flag(self, name: str, value: bool) -> bool:
        if getattr(self, name) is value:
            return False
        setattr(self, name, value)
        self.seq += 1
        return True

    def _record(self, scope: str, before: StormGuardLevel, reason: str) -> RecordedTransition | None:
        after = self.level(scope)
        if after is before:
            return None
        transition = RecordedTransition(scope, before, after, reason, self.clock.wall_ns())
        self.transitions.append(transition)
        return transition

    # -- persistence: a restarted control must not lift a HALT, a hold or a kill switch it forgot

    def saved(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "seq": self.seq, "risk_levels": dict(self.risk_levels), "forced": dict(self.forced),
            "hold_fire": self.hold_fire, "cancel_all": self.cancel_all, "strategy_enabled": dict(self.strategy_enabled),
            "trading_day": self.trading_day,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Take a saved state (its epoch and seq too, so subscribers see one numbering); the seq is then
        bumped once, so what this run broadcasts first is news to everyone."""
        self.epoch = int(saved["epoch"])
        self.seq = int(saved["seq"]) + 1
        for scope, level in saved["risk_levels"].items():
            self.risk_levels[scope] = StormGuardLevel(level)
        self.forced = {scope: StormGuardLevel(level) for scope, level in saved["forced"].items()}
        self.hold_fire = bool(saved["hold_fire"])
        self.cancel_all = bool(saved["cancel_all"])
        self.strategy_enabled = {sid: bool(on) for sid, on in saved["strategy_enabled"].items()}
        self.trading_day = str(saved.get("trading_day", ""))  # absent from an older control's file
        for scope in self.forced:
            self.risk_levels.setdefault(scope, _NORMAL)
