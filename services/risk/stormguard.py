"""StormGuard: the drawdown-driven state machine (NORMAL → WARM → STORM → HALT) of every scope.

A scope is the global book or one strategy, each with the capital allocated to it in config; a
strategy may override the drawdown thresholds, hysteresis, dwell and WARM multipliers.
Risk feeds it PnL (realized + unrealized, see pnl.py), and for the global scope the broker usage
and the adapter's circuit breaker; the machine returns the transitions, which the caller logs,
counts and proposes to control. It does no I/O and reads time only from the injected clock.

- Drawdown = (peak PnL seen, starting at 0, minus current PnL) / capital, in percent. It demands
  WARM at warm_drawdown_pct, STORM at storm_drawdown_pct, HALT at halt_drawdown_pct.
- Global only: more than usage_warm_actions broker actions in the window demand WARM, more than
  usage_halt_actions HALT; more than usage_slow_actions sets `broker_slow` (a further rate cut,
  not a level). An open circuit breaker demands breaker_open_level.
- A scope's level is the highest of what its inputs demand. Escalation is immediate, straight to
  that level. De-escalation goes one level at a time, and only once every input has recovered
  past the current level's threshold by the hysteresis band (hysteresis_pct of drawdown; 10 % of
  the threshold for broker usage, i.e. at most 135 actions to leave a WARM set at >150) AND the
  scope has dwelt min_dwell_s at its level; each step restarts the dwell. Nothing steps down
  without an update: call `refresh` on a timer to let dwell expire without new inputs.
- HALT is latched: only `release` (an operator, through control) leaves it, one step to STORM.
  Release accepts the drawdown so far (the peak restarts at the current PnL, or a drawdown HALT
  could never be released) and is refused while a live input (usage, breaker) still demands HALT.
- A trading day's rollover (`start_day`) starts every scope's PnL and peak again at 0 and puts each
  scope straight at what its live inputs demand now: a level yesterday's drawdown set, a latched HALT
  too, is gone; broker usage and the breaker are judged afresh. An operator's force is control's, not
  this machine's, and stays.
- While `peaks_frozen`, PnL moves but no peak rises: risk sets it while it replays execution reports
  from before its start, whose PnL between fills it cannot know (a peak only the live marks could show).
- `saved` and `restore` carry every scope's level, PnL, peak and dwell across a restart of risk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from contracts.enums import StormGuardLevel, stricter
from contracts.messages import GLOBAL_SCOPE
from contracts.prices import PRICE_SCALE
from services.risk.state_file import SavedScope
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import StormGuardConfig

__all__ = ["GLOBAL_SCOPE", "StormGuard", "Transition"]

_LEVELS = sorted(StormGuardLevel, key=lambda level: level.severity)
_NORMAL = StormGuardLevel.NORMAL
_WARM = StormGuardLevel.WARM
_STORM = StormGuardLevel.STORM
_HALT = StormGuardLevel.HALT
_ONE = Decimal(1)
# Broker usage must fall this far below a threshold (as a fraction of it) to count as recovered.
USAGE_HYSTERESIS = Decimal("0.1")


@dataclass(frozen=True)
class Transition:
    scope: str
    from_level: StormGuardLevel
    to_level: StormGuardLevel
    reason: str
    ts_ns: int


@dataclass
class _Scope:
    capital_twd: Decimal
    since_mono_ns: int
    level: StormGuardLevel = _NORMAL
    pnl_e4: int = 0
    peak_pnl_e4: int = 0


class StormGuard:
    def __init__(self, clock: Clock, config: StormGuardConfig, capital_twd: Mapping[str, Decimal],
                 scope_configs: Mapping[str, StormGuardConfig] | None = None) -> None:
        if GLOBAL_SCOPE not in capital_twd:
            raise ValueError(f"capital_twd needs a {GLOBAL_SCOPE!r} entry")
        self.clock = clock
        self.config = config
        self.scope_configs: Mapping[str, StormGuardConfig] = scope_configs or {}
        self._scopes: dict[str, _Scope] = {}
        self.set_capital(capital_twd)
        self.usage_actions = 0
        self.breaker_open = False
        self._slow = False
        self.peaks_frozen = False

    def set_capital(self, capital_twd: Mapping[str, Decimal]) -> None:
        """Change the capital of scopes (a limits reload); new scopes start at NORMAL, state carries over."""
        now = self.clock.mono_ns()
        for scope, capital in capital_twd.items():
            capital = Decimal(capital)
            if capital <= 0:
                raise ValueError(f"capital of {scope!r} must be positive, got {capital}")
            if scope in self._scopes:
                self._scopes[scope].capital_twd = capital
            else:
                self._scopes[scope] = _Scope(capital_twd=capital, since_mono_ns=now)

    # --- inputs -----------------------------------------------------------------------------------

    def update_pnl(self, scope: str, pnl_e4: int) -> list[Transition]:
        """The scope's current PnL in TWD ×10⁴ (realized + unrealized). KeyError for an unknown scope."""
        state = self._scopes[scope]
        state.pnl_e4 = pnl_e4
        if not self.peaks_frozen and pnl_e4 > state.peak_pnl_e4:
            state.peak_pnl_e4 = pnl_e4
        return self._evaluate(scope)

    def update_usage(self, actions_in_window: int) -> list[Transition]:
        """Broker actions spent in the adapter's sliding window (global scope)."""
        self.usage_actions = actions_in_window
        self._slow = actions_in_window > self.config.usage_slow_actions
        return self._evaluate(GLOBAL_SCOPE)

    def update_breaker(self, open: bool) -> list[Transition]:
        """Whether the adapter's circuit breaker is open (global scope)."""
        self.breaker_open = open
        return self._evaluate(GLOBAL_SCOPE)

    def refresh(self) -> list[Transition]:
        """Re-evaluate every scope on its last inputs, so a dwell that has run out can step down."""
        transitions: list[Transition] = []
        for scope in self._scopes:
            transitions += self._evaluate(scope)
        return transitions

    def release(self, scope: str) -> list[Transition]:
        """An operator's release: HALT steps down to STORM; [] if the scope is not in HALT or a live input
        (broker usage, breaker) still demands HALT. The drawdown so far is accepted: the peak restarts here."""
        state = self._scopes[scope]
        if state.level is not _HALT or self._live_demand(scope).severity >= _HALT.severity:
            return []
        state.peak_pnl_e4 = state.pnl_e4
        return [self._move(scope, _STORM, "operator release")]

    def start_day(self, reason: str) -> list[Transition]:
        """A new trading day: every scope's PnL and peak start at 0, and its level is what the live inputs
        (broker usage, breaker) demand now, set at once, whatever it was (HALT included)."""
        transitions: list[Transition] = []
        for scope, state in self._scopes.items():
            state.pnl_e4 = state.peak_pnl_e4 = 0
            demand = self._live_demand(scope)
            if demand is not state.level:
                transitions.append(self._move(scope, demand, reason))
        return transitions

    def saved(self) -> list[SavedScope]:
        """Every scope as risk's state file keeps it."""
        now_wall, now_mono = self.clock.wall_ns(), self.clock.mono_ns()
        return [SavedScope(scope=scope, level=state.level, pnl_e4=state.pnl_e4, peak_pnl_e4=state.peak_pnl_e4,
                           since_wall_ns=now_wall - (now_mono - state.since_mono_ns))
                for scope, state in self._scopes.items()]

    def restore(self, scopes: list[SavedScope]) -> None:
        """Take levels, PnL, peaks and dwell back from risk's state file; a scope no longer configured is
        left out (its strategy was removed), a new one stays NORMAL."""
        now_wall, now_mono = self.clock.wall_ns(), self.clock.mono_ns()
        for saved in scopes:
            state = self._scopes.get(saved.scope)
            if state is None:
                continue
            state.level = saved.level
            state.pnl_e4 = saved.pnl_e4
            state.peak_pnl_e4 = saved.peak_pnl_e4
            state.since_mono_ns = now_mono - max(0, now_wall - saved.since_wall_ns)

    def peak_pnl_e4(self, scope: str) -> int:
        return self._scopes[scope].peak_pnl_e4

    # --- reading ----------------------------------------------------------------------------------

    def level(self, scope: str) -> StormGuardLevel:
        return self._scopes[scope].level

    def levels(self) -> dict[str, StormGuardLevel]:
        return {scope: state.level for scope, state in self._scopes.items()}

    def effective_level(self, strategy_id: str) -> StormGuardLevel:
        """The stricter of the strategy's own level and the global one (a strategy StormGuard does not
        know yet counts as NORMAL on its own)."""
        own = self._scopes.get(strategy_id)
        global_level = self._scopes[GLOBAL_SCOPE].level
        return global_level if own is None else stricter(own.level, global_level)

    @property
    def broker_slow(self) -> bool:
        """True while broker usage is above usage_slow_actions: every order rate is cut further."""
        return self._slow

    def config_of(self, scope: str) -> StormGuardConfig:
        """The scope's own settings (a strategy's overrides), else the desk's."""
        return self.scope_configs.get(scope, self.config)

    def size_multiplier(self, strategy_id: str) -> Decimal:
        """What a NEW's size is scaled by: 1 at NORMAL, the WARM multiplier at WARM and above."""
        if self.effective_level(strategy_id) is _NORMAL:
            return _ONE
        return self.config_of(strategy_id).warm_size_multiplier

    def rate_multiplier(self, strategy_id: str) -> Decimal:
        """What order-rate limits are scaled by: the WARM multiplier at WARM and above, times the slow
        multiplier while the broker is busy."""
        multiplier = _ONE if self.effective_level(strategy_id) is _NORMAL \
            else self.config_of(strategy_id).warm_rate_multiplier
        if self._slow:
            multiplier *= self.config.slow_rate_multiplier
        return multiplier

    def drawdown_pct(self, scope: str) -> Decimal:
        """(peak PnL - PnL) / capital, in percent; 0 at or above the peak."""
        state = self._scopes[scope]
        return Decimal(max(0, state.peak_pnl_e4 - state.pnl_e4)) * 100 / (state.capital_twd * PRICE_SCALE)

    # --- the machine ------------------------------------------------------------------------------

    def _evaluate(self, scope: str) -> list[Transition]:
        state = self._scopes[scope]
        if state.level is _HALT:
            return []
        demand, reason = self._demand(scope, hysteresis=False)
        if demand.severity > state.level.severity:
            return [self._move(scope, demand, reason)]
        if state.level is _NORMAL:
            return []
        still_demanded, _ = self._demand(scope, hysteresis=True)
        dwell_ns = int(self.config_of(scope).min_dwell_s * 1_000_000_000)
        if still_demanded.severity < state.level.severity \
                and self.clock.mono_ns() - state.since_mono_ns >= dwell_ns:
            return [self._move(scope, _LEVELS[state.level.severity - 1], "recovered")]
        return []

    def _move(self, scope: str, to_level: StormGuardLevel, reason: str) -> Transition:
        state = self._scopes[scope]
        transition = Transition(scope, state.level, to_level, reason, self.clock.wall_ns())
        state.level = to_level
        state.since_mono_ns = self.clock.mono_ns()
        return transition

    def _live_demand(self, scope: str) -> StormGuardLevel:
        """What broker usage and the breaker demand (the global scope's inputs other than drawdown)."""
        if scope != GLOBAL_SCOPE:
            return _NORMAL
        demand = self._usage_demand(hysteresis=False)[0]
        return stricter(demand, self._breaker_demand()[0])

    def _demand(self, scope: str, hysteresis: bool) -> tuple[StormGuardLevel, str]:
        """The highest level the scope's inputs demand, with the reason of the first input demanding it.
        With hysteresis, thresholds are lowered by the band: what an input must fall below to recover."""
        demands = [self._drawdown_demand(scope, hysteresis)]
        if scope == GLOBAL_SCOPE:
            demands += [self._usage_demand(hysteresis), self._breaker_demand()]
        return max(demands, key=lambda demand: demand[0].severity)

    def _drawdown_demand(self, scope: str, hysteresis: bool) -> tuple[StormGuardLevel, str]:
        drawdown = self.drawdown_pct(scope)
        config = self.config_of(scope)
        band = config.hysteresis_pct if hysteresis else Decimal(0)
        for level, threshold in ((_HALT, config.halt_drawdown_pct), (_STORM, config.storm_drawdown_pct),
                                 (_WARM, config.warm_drawdown_pct)):
            if drawdown >= threshold - band:
                shown = drawdown.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
                return level, f"drawdown {shown}% >= {threshold}%"
        return _NORMAL, ""

    def _usage_demand(self, hysteresis: bool) -> tuple[StormGuardLevel, str]:
        keep = _ONE - USAGE_HYSTERESIS if hysteresis else _ONE
        for level, threshold in ((_HALT, self.config.usage_halt_actions), (_WARM, self.config.usage_warm_actions)):
            if self.usage_actions > threshold * keep:
                return level, f"broker usage {self.usage_actions} > {threshold} actions/10s"
        return _NORMAL, ""

    def _breaker_demand(self) -> tuple[StormGuardLevel, str]:
        if self.breaker_open:
            return self.config.breaker_open_level, "circuit breaker open"
        return _NORMAL, ""
