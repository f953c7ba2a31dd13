"""services.risk.stormguard: the StormGuard state machine, driven by a fake clock.

Defaults: WARM at 0.5 % drawdown, STORM at 1 %, HALT at 1.5 %, hysteresis 0.1 %, dwell 30 s;
broker usage > 150 WARM, > 180 slow, > 230 HALT; an open breaker demands STORM.
"""

from __future__ import annotations

from decimal import Decimal

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.enums import StormGuardLevel, stricter
from services.risk.stormguard import GLOBAL_SCOPE, StormGuard, Transition
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import StormGuardConfig, StrategyLimitsConfig

NORMAL, WARM, STORM, HALT = StormGuardLevel.NORMAL, StormGuardLevel.WARM, StormGuardLevel.STORM, StormGuardLevel.HALT
SECOND = 1_000_000_000
STRATEGY_CAPITAL = Decimal(10_000_000)
GLOBAL_CAPITAL = Decimal(100_000_000)
CAPITAL = {GLOBAL_SCOPE: GLOBAL_CAPITAL, "mm1": STRATEGY_CAPITAL, "mm2": STRATEGY_CAPITAL}


def make(config: StormGuardConfig | None = None) -> tuple[FakeClock, StormGuard]:
    clock = FakeClock()
    return clock, StormGuard(clock, config or StormGuardConfig(), CAPITAL)


def loss(pct: str, capital: Decimal = STRATEGY_CAPITAL) -> int:
    """The PnL (TWD ×10⁴) that is a drawdown of `pct` percent from a peak of 0."""
    return -int(Decimal(pct) * capital * 100)


def bring_to(guard: StormGuard, level: StormGuardLevel, scope: str = "mm1") -> None:
    capital = CAPITAL[scope]
    pct = {NORMAL: "0", WARM: "0.5", STORM: "1.0", HALT: "1.5"}[level]
    guard.update_pnl(scope, loss(pct, capital))
    assert guard.level(scope) is level


def levels_of(transitions: list[Transition]) -> list[tuple[StormGuardLevel, StormGuardLevel]]:
    return [(t.from_level, t.to_level) for t in transitions]


def test_every_scope_starts_normal() -> None:
    _, guard = make()
    assert guard.levels() == {GLOBAL_SCOPE: NORMAL, "mm1": NORMAL, "mm2": NORMAL}
    assert not guard.broker_slow


def test_capital_needs_a_global_scope() -> None:
    with pytest.raises(ValueError, match="global"):
        StormGuard(FakeClock(), StormGuardConfig(), {"mm1": STRATEGY_CAPITAL})


def test_unknown_scope_is_a_key_error() -> None:
    _, guard = make()
    with pytest.raises(KeyError):
        guard.level("nobody")
    with pytest.raises(KeyError):
        guard.update_pnl("nobody", 0)


# --- the transition table: drawdown -------------------------------------------------------------

# (from level, drawdown % after, seconds waited before the update, level after)
DRAWDOWN_TABLE = [
    (NORMAL, "0.49", 0, NORMAL),
    (NORMAL, "0.5", 0, WARM),
    (NORMAL, "1.0", 0, STORM),
    (NORMAL, "1.5", 0, HALT),
    (WARM, "0.45", 60, WARM),      # below the threshold but inside the hysteresis band
    (WARM, "0.4", 60, WARM),       # exactly at threshold - hysteresis: not yet below it
    (WARM, "0.39", 60, NORMAL),
    (WARM, "0.39", 29, WARM),      # recovered, but the dwell has not run out
    (WARM, "0", 30, NORMAL),
    (WARM, "1.0", 0, STORM),
    (WARM, "1.5", 0, HALT),
    (STORM, "0.95", 60, STORM),
    (STORM, "0.89", 60, WARM),
    (STORM, "0", 60, WARM),        # one level at a time, however far it recovered
    (STORM, "0", 10, STORM),
    (STORM, "1.5", 0, HALT),
    (HALT, "0", 3600, HALT),       # latched
    (HALT, "1.0", 3600, HALT),
]


@pytest.mark.parametrize(("start", "drawdown_pct", "waited_s", "expected"), DRAWDOWN_TABLE)
def test_drawdown_transition_table(start: StormGuardLevel, drawdown_pct: str, waited_s: int,
                                   expected: StormGuardLevel) -> None:
    clock, guard = make()
    bring_to(guard, start)
    clock.advance(waited_s * SECOND)
    transitions = guard.update_pnl("mm1", loss(drawdown_pct))
    assert guard.level("mm1") is expected
    assert levels_of(transitions) == ([] if expected is start else [(start, expected)])


def test_escalation_jumps_straight_to_the_demanded_level_with_its_reason() -> None:
    clock, guard = make()
    transitions = guard.update_pnl("mm1", loss("1.52"))
    assert transitions == [Transition("mm1", NORMAL, HALT, "drawdown 1.52% >= 1.5%", clock.wall_ns())]


def test_warm_reason_names_the_drawdown_and_threshold() -> None:
    _, guard = make()
    [transition] = guard.update_pnl("mm1", loss("0.52"))
    assert transition.reason == "drawdown 0.52% >= 0.5%"
    assert transition.scope == "mm1"


def test_transitions_carry_the_wall_clock() -> None:
    clock, guard = make()
    clock.advance(7 * SECOND)
    [transition] = guard.update_pnl("mm1", loss("0.5"))
    assert transition.ts_ns == clock.wall_ns()


def test_drawdown_is_measured_from_the_peak() -> None:
    _, guard = make()
    guard.update_pnl("mm1", -loss("2"))  # up 2 %
    assert guard.update_pnl("mm1", -loss("1.6")) == []  # still 1.6 % above the start
    assert guard.drawdown_pct("mm1") == Decimal("0.4")
    guard.update_pnl("mm1", -loss("1.5"))
    assert guard.level("mm1") is WARM  # 0.5 % below the peak, though still in profit


def test_scopes_are_independent() -> None:
    _, guard = make()
    bring_to(guard, STORM, "mm1")
    assert guard.level("mm2") is NORMAL
    assert guard.level(GLOBAL_SCOPE) is NORMAL


def test_global_drawdown_is_against_global_capital() -> None:
    _, guard = make()
    guard.update_pnl(GLOBAL_SCOPE, loss("1.0"))  # 100,000 TWD: 1 % of a strategy, 0.1 % of the whole
    assert guard.level(GLOBAL_SCOPE) is NORMAL
    guard.update_pnl(GLOBAL_SCOPE, loss("1.0", GLOBAL_CAPITAL))
    assert guard.level(GLOBAL_SCOPE) is STORM


# --- de-escalation: hysteresis, dwell, one level per dwell --------------------------------------


def test_de_escalation_steps_one_level_per_dwell() -> None:
    clock, guard = make()
    bring_to(guard, STORM)
    clock.advance(30 * SECOND)
    assert levels_of(guard.update_pnl("mm1", 0)) == [(STORM, WARM)]
    assert guard.update_pnl("mm1", 0) == []  # the step restarted the dwell
    clock.advance(29 * SECOND)
    assert guard.update_pnl("mm1", 0) == []
    clock.advance(1 * SECOND)
    [transition] = guard.update_pnl("mm1", 0)
    assert (transition.from_level, transition.to_level, transition.reason) == (WARM, NORMAL, "recovered")


def test_dwell_counts_from_entering_the_level_not_from_recovery() -> None:
    clock, guard = make()
    bring_to(guard, WARM)
    clock.advance(40 * SECOND)
    guard.update_pnl("mm1", loss("0.6"))  # still in drawdown after the dwell
    assert levels_of(guard.update_pnl("mm1", loss("0.3"))) == [(WARM, NORMAL)]


def test_recovery_needs_the_hysteresis_even_after_a_long_dwell() -> None:
    clock, guard = make()
    bring_to(guard, STORM)
    clock.advance(3600 * SECOND)
    assert guard.update_pnl("mm1", loss("0.91")) == []
    assert guard.level("mm1") is STORM


def test_re_escalation_restarts_the_dwell() -> None:
    clock, guard = make()
    bring_to(guard, WARM)
    clock.advance(20 * SECOND)
    guard.update_pnl("mm1", loss("1.0"))
    clock.advance(20 * SECOND)
    assert guard.update_pnl("mm1", 0) == []  # 40 s since WARM, but 20 s since STORM
    clock.advance(10 * SECOND)
    assert levels_of(guard.update_pnl("mm1", 0)) == [(STORM, WARM)]


def test_refresh_lets_a_dwell_run_out_without_new_inputs() -> None:
    clock, guard = make()
    bring_to(guard, WARM)
    guard.update_pnl("mm1", 0)
    clock.advance(30 * SECOND)
    assert levels_of(guard.refresh()) == [(WARM, NORMAL)]
    assert guard.refresh() == []


def test_zero_dwell_still_steps_one_level_per_update() -> None:
    _, guard = make(StormGuardConfig(min_dwell_s=0))
    bring_to(guard, STORM)
    assert levels_of(guard.update_pnl("mm1", 0)) == [(STORM, WARM)]
    assert levels_of(guard.update_pnl("mm1", 0)) == [(WARM, NORMAL)]


# --- HALT and release ---------------------------------------------------------------------------


def test_halt_is_latched_against_every_input() -> None:
    clock, guard = make()
    guard.update_usage(231)
    guard.update_breaker(True)
    bring_to(guard, HALT, GLOBAL_SCOPE)
    clock.advance(3600 * SECOND)
    assert guard.update_pnl(GLOBAL_SCOPE, 0) == []
    assert guard.update_usage(0) == []
    assert guard.update_breaker(False) == []
    assert guard.refresh() == []
    assert guard.level(GLOBAL_SCOPE) is HALT


def test_release_of_a_scope_not_in_halt_changes_nothing() -> None:
    clock, guard = make()
    bring_to(guard, STORM)
    clock.advance(10 * SECOND)
    assert guard.release("mm1") == []
    assert guard.release("mm2") == []
    clock.advance(20 * SECOND)  # the dwell was not restarted by the refused release
    assert levels_of(guard.update_pnl("mm1", 0)) == [(STORM, WARM)]


def test_release_steps_halt_to_storm_then_normal_de_escalation_continues() -> None:
    clock, guard = make()
    bring_to(guard, HALT)
    [transition] = guard.release("mm1")
    assert (transition.from_level, transition.to_level, transition.reason) == (HALT, STORM, "operator release")
    assert guard.level("mm1") is STORM
    # the drawdown that caused the HALT is accepted: the same PnL no longer escalates
    assert guard.update_pnl("mm1", loss("1.5")) == []
    assert guard.drawdown_pct("mm1") == 0
    clock.advance(30 * SECOND)
    assert levels_of(guard.update_pnl("mm1", loss("1.5"))) == [(STORM, WARM)]
    clock.advance(30 * SECOND)
    assert levels_of(guard.update_pnl("mm1", loss("1.5"))) == [(WARM, NORMAL)]


def test_release_steps_to_storm_even_when_nothing_is_demanded() -> None:
    _, guard = make()
    bring_to(guard, HALT)
    guard.update_pnl("mm1", 0)  # recovered completely while latched
    assert levels_of(guard.release("mm1")) == [(HALT, STORM)]


def test_a_new_loss_after_release_halts_again() -> None:
    _, guard = make()
    bring_to(guard, HALT)
    guard.release("mm1")
    assert guard.update_pnl("mm1", loss("2.0")) == []  # 0.5 % more: WARM, below STORM
    assert levels_of(guard.update_pnl("mm1", loss("3.0"))) == [(STORM, HALT)]


def test_release_is_refused_while_broker_usage_still_demands_halt() -> None:
    clock, guard = make()
    guard.update_usage(231)
    assert guard.level(GLOBAL_SCOPE) is HALT
    assert guard.release(GLOBAL_SCOPE) == []
    guard.update_usage(100)
    assert guard.level(GLOBAL_SCOPE) is HALT
    assert levels_of(guard.release(GLOBAL_SCOPE)) == [(HALT, STORM)]
    clock.advance(30 * SECOND)
    assert levels_of(guard.refresh()) == [(STORM, WARM)]
    clock.advance(30 * SECOND)
    assert levels_of(guard.refresh()) == [(WARM, NORMAL)]


def test_release_keeps_storm_while_the_breaker_is_open() -> None:
    clock, guard = make()
    bring_to(guard, HALT, GLOBAL_SCOPE)
    guard.update_breaker(True)
    assert levels_of(guard.release(GLOBAL_SCOPE)) == [(HALT, STORM)]
    clock.advance(60 * SECOND)
    assert guard.refresh() == []


# --- broker usage and the circuit breaker (global scope) ----------------------------------------


def test_usage_escalates_the_global_scope() -> None:
    _, guard = make()
    assert guard.update_usage(150) == []
    [transition] = guard.update_usage(151)
    assert (transition.scope, transition.to_level) == (GLOBAL_SCOPE, WARM)
    assert transition.reason == "broker usage 151 > 150 actions/10s"
    assert not guard.broker_slow
    assert guard.update_usage(181) == []
    assert guard.broker_slow
    [transition] = guard.update_usage(231)
    assert (transition.from_level, transition.to_level) == (WARM, HALT)
    assert transition.reason == "broker usage 231 > 230 actions/10s"
    assert guard.level("mm1") is NORMAL  # strategies' own levels are untouched


def test_usage_jumps_straight_to_halt() -> None:
    _, guard = make()
    assert levels_of(guard.update_usage(240)) == [(NORMAL, HALT)]


def test_usage_recovers_with_ten_percent_hysteresis_and_dwell() -> None:
    clock, guard = make()
    guard.update_usage(151)
    clock.advance(30 * SECOND)
    assert guard.update_usage(140) == []  # below 150, not below 135
    assert guard.update_usage(136) == []
    assert levels_of(guard.update_usage(135)) == [(WARM, NORMAL)]


def test_broker_slow_follows_usage_without_hysteresis() -> None:
    _, guard = make()
    guard.update_usage(181)
    assert guard.broker_slow
    guard.update_usage(180)
    assert not guard.broker_slow
    assert guard.level(GLOBAL_SCOPE) is WARM


def test_open_breaker_escalates_to_the_configured_level() -> None:
    clock, guard = make()
    [transition] = guard.update_breaker(True)
    assert (transition.scope, transition.from_level, transition.to_level) == (GLOBAL_SCOPE, NORMAL, STORM)
    assert transition.reason == "circuit breaker open"
    assert guard.update_breaker(True) == []
    assert guard.update_breaker(False) == []  # closing needs the dwell
    clock.advance(30 * SECOND)
    assert levels_of(guard.update_breaker(False)) == [(STORM, WARM)]
    clock.advance(30 * SECOND)
    assert levels_of(guard.update_breaker(False)) == [(WARM, NORMAL)]


@pytest.mark.parametrize("configured", [WARM, STORM, HALT])
def test_breaker_open_level_comes_from_config(configured: StormGuardLevel) -> None:
    _, guard = make(StormGuardConfig(breaker_open_level=configured))
    assert levels_of(guard.update_breaker(True)) == [(NORMAL, configured)]


def test_breaker_does_not_lower_a_higher_level() -> None:
    _, guard = make()
    guard.update_usage(231)
    assert guard.update_breaker(True) == []
    assert guard.level(GLOBAL_SCOPE) is HALT


def test_combined_level_is_the_highest_demand() -> None:
    clock, guard = make()
    guard.update_usage(160)
    assert levels_of(guard.update_pnl(GLOBAL_SCOPE, loss("1.0", GLOBAL_CAPITAL))) == [(WARM, STORM)]
    clock.advance(30 * SECOND)
    # drawdown recovered, but usage still demands WARM: one step, then it holds
    assert levels_of(guard.update_pnl(GLOBAL_SCOPE, 0)) == [(STORM, WARM)]
    clock.advance(30 * SECOND)
    assert guard.update_pnl(GLOBAL_SCOPE, 0) == []
    assert guard.level(GLOBAL_SCOPE) is WARM
    assert levels_of(guard.update_usage(100)) == [(WARM, NORMAL)]


def test_escalation_reason_names_the_input_that_demands_most() -> None:
    _, guard = make()
    guard.update_usage(160)
    [transition] = guard.update_breaker(True)
    assert transition.reason == "circuit breaker open"


# --- effective level and multipliers ------------------------------------------------------------


def test_effective_level_follows_the_global_scope() -> None:
    _, guard = make()
    guard.update_breaker(True)
    assert guard.level("mm1") is NORMAL
    assert guard.effective_level("mm1") is STORM
    bring_to(guard, HALT, "mm2")
    assert guard.effective_level("mm2") is HALT
    assert guard.effective_level("not-configured") is STORM  # only the global view applies


@pytest.mark.parametrize(("level", "size", "rate"), [
    (NORMAL, Decimal(1), Decimal(1)),
    (WARM, Decimal("0.5"), Decimal("0.5")),
    (STORM, Decimal("0.5"), Decimal("0.5")),
    (HALT, Decimal("0.5"), Decimal("0.5")),
])
def test_multipliers_per_level(level: StormGuardLevel, size: Decimal, rate: Decimal) -> None:
    _, guard = make()
    bring_to(guard, level)
    assert guard.size_multiplier("mm1") == size
    assert guard.rate_multiplier("mm1") == rate
    assert guard.size_multiplier("mm2") == 1


def test_multipliers_come_from_config() -> None:
    _, guard = make(StormGuardConfig(warm_size_multiplier=Decimal("0.25"), warm_rate_multiplier=Decimal("0.75"),
                                     slow_rate_multiplier=Decimal("0.4")))
    bring_to(guard, WARM)
    assert guard.size_multiplier("mm1") == Decimal("0.25")
    assert guard.rate_multiplier("mm1") == Decimal("0.75")
    guard.update_usage(181)
    assert guard.rate_multiplier("mm1") == Decimal("0.75") * Decimal("0.4")


def test_broker_slow_cuts_every_strategy_rate_further() -> None:
    _, guard = make()
    guard.update_usage(181)
    assert guard.effective_level("mm2") is WARM
    assert guard.rate_multiplier("mm2") == Decimal("0.25")
    assert guard.size_multiplier("mm2") == Decimal("0.5")


def test_set_capital_adds_scopes_and_keeps_state() -> None:
    _, guard = make()
    bring_to(guard, STORM)
    guard.set_capital({"mm3": STRATEGY_CAPITAL, "mm1": STRATEGY_CAPITAL * 2})
    assert guard.level("mm3") is NORMAL
    assert guard.level("mm1") is STORM
    assert guard.drawdown_pct("mm1") == Decimal("0.5")


# --- properties over random sequences -----------------------------------------------------------

CONFIG = StormGuardConfig()
SCOPES = [GLOBAL_SCOPE, "mm1"]


def plain_demand(drawdown_pct: Decimal, usage: int | None, breaker: bool | None) -> StormGuardLevel:
    """What the inputs demand at the plain thresholds, computed independently of the machine."""
    demand = NORMAL
    for level, threshold in ((WARM, CONFIG.warm_drawdown_pct), (STORM, CONFIG.storm_drawdown_pct),
                             (HALT, CONFIG.halt_drawdown_pct)):
        if drawdown_pct >= threshold:
            demand = level
    if usage is not None:
        if usage > CONFIG.usage_halt_actions:
            demand = HALT
        elif usage > CONFIG.usage_warm_actions:
            demand = stricter(demand, WARM)
    if breaker:
        demand = stricter(demand, CONFIG.breaker_open_level)
    return demand


operations = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 40)),
    st.tuples(st.just("pnl"), st.sampled_from(SCOPES), st.integers(-250, 100)),  # basis points of capital
    st.tuples(st.just("usage"), st.integers(0, 300)),
    st.tuples(st.just("breaker"), st.booleans()),
    st.tuples(st.just("release"), st.sampled_from(SCOPES)),
    st.tuples(st.just("refresh")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, max_size=60))
def test_properties_over_random_sequences(ops: list[tuple]) -> None:
    clock, guard = make()
    dwell_ns = int(CONFIG.min_dwell_s * SECOND)
    pnl = dict.fromkeys(SCOPES, 0)
    peak = dict.fromkeys(SCOPES, 0)
    usage, breaker = 0, False
    changed_ns = dict.fromkeys(SCOPES, clock.mono_ns())
    for op in ops:
        before = {scope: guard.level(scope) for scope in SCOPES}
        kind = op[0]
        if kind == "advance":
            clock.advance(op[1] * SECOND)
            transitions = []
        elif kind == "pnl":
            scope, bp = op[1], op[2]
            pnl[scope] = bp * int(CAPITAL[scope])  # bp/10,000 of capital, in TWD ×10⁴
            peak[scope] = max(peak[scope], pnl[scope])
            transitions = guard.update_pnl(scope, pnl[scope])
        elif kind == "usage":
            usage = op[1]
            transitions = guard.update_usage(usage)
        elif kind == "breaker":
            breaker = op[1]
            transitions = guard.update_breaker(breaker)
        elif kind == "release":
            transitions = guard.release(op[1])
            if transitions:
                peak[op[1]] = pnl[op[1]]  # a release accepts the drawdown so far
        else:
            transitions = guard.refresh()

        seen: set[str] = set()
        for transition in transitions:
            scope = transition.scope
            assert scope not in seen, "at most one transition per scope per update"
            seen.add(scope)
            assert transition.from_level is before[scope]
            if transition.to_level.severity < transition.from_level.severity:
                # de-escalation never skips a level, and only after the dwell (or by release, from HALT)
                assert transition.to_level.severity == transition.from_level.severity - 1
                if transition.reason == "operator release":
                    assert kind == "release" and transition.from_level is HALT
                else:
                    assert clock.mono_ns() - changed_ns[scope] >= dwell_ns
            changed_ns[scope] = clock.mono_ns()

        for scope in SCOPES:
            level = guard.level(scope)
            assert level is next((t.to_level for t in transitions if t.scope == scope), before[scope])
            # HALT never leaves without a release
            if before[scope] is HALT and not (kind == "release" and op[1] == scope):
                assert level is HALT
            # escalation is immediate and straight to the demand: never below what the inputs demand
            drawdown = Decimal(peak[scope] - pnl[scope]) * 100 / (CAPITAL[scope] * 10_000)
            is_global = scope == GLOBAL_SCOPE
            demand = plain_demand(drawdown, usage if is_global else None, breaker if is_global else None)
            assert level.severity >= demand.severity
            if level.severity > before[scope].severity:
                assert level is demand
            assert guard.effective_level(scope) is stricter(level, guard.level(GLOBAL_SCOPE))


def test_a_strategy_with_its_own_thresholds_escalates_on_them() -> None:
    limits = StrategyLimitsConfig.model_validate({
        "strategies": [
            {"id": "tight", "class": "m:C", "symbols": ["2330"], "capital_twd": 1_000_000,
             "stormguard": {"warm_drawdown_pct": "0.2", "hysteresis_pct": "0.05"}},
            {"id": "plain", "class": "m:C", "symbols": ["2330"], "capital_twd": 1_000_000},
        ],
    })
    guard = StormGuard(FakeClock(), limits.stormguard,
                       {"global": Decimal(100_000_000), "tight": Decimal(1_000_000), "plain": Decimal(1_000_000)},
                       {entry.id: limits.stormguard_for(entry.id) for entry in limits.strategies})
    loss_e4 = -3_000 * 10_000  # 0.3 % of 1 M TWD
    assert [t.to_level for t in guard.update_pnl("tight", loss_e4)] == [StormGuardLevel.WARM]
    assert guard.update_pnl("plain", loss_e4) == [], "the desk's WARM is at 0.5 %"


def test_inconsistent_overrides_are_refused_naming_the_strategy() -> None:
    with pytest.raises(pydantic.ValidationError, match="strategy tight: stormguard overrides"):
        StrategyLimitsConfig.model_validate({"strategies": [
            {"id": "tight", "class": "m:C", "symbols": ["2330"], "stormguard": {"warm_drawdown_pct": "2"}},
        ]})


# --- trading days, restarts, replays -------------------------------------------------------------


def test_a_new_day_ends_a_drawdown_halt_and_starts_every_peak_at_zero() -> None:
    clock, guard = make()
    guard.update_pnl("mm1", 5_000_000_000)  # a peak of 500,000 TWD
    bring_to(guard, HALT)  # and a 1.5 % drawdown from 0: HALT, latched
    bring_to(guard, WARM, "mm2")
    clock.advance(3600 * SECOND)
    transitions = guard.start_day("trading day 2025-10-10 begins")
    assert levels_of(transitions) == [(HALT, NORMAL), (WARM, NORMAL)]
    assert {t.scope for t in transitions} == {"mm1", "mm2"}
    assert all(t.reason == "trading day 2025-10-10 begins" for t in transitions)
    assert guard.levels() == {GLOBAL_SCOPE: NORMAL, "mm1": NORMAL, "mm2": NORMAL}
    assert guard.peak_pnl_e4("mm1") == 0 and guard.drawdown_pct("mm1") == 0
    # The new day's drawdown is measured from 0, not from yesterday's peak.
    guard.update_pnl("mm1", loss("0.6"))
    assert guard.level("mm1") is WARM


def test_a_new_day_keeps_what_live_inputs_still_demand() -> None:
    _, guard = make()
    guard.update_usage(240)
    assert guard.level(GLOBAL_SCOPE) is HALT
    assert guard.start_day("new day") == [], "broker usage still over the HALT threshold: HALT stays"
    guard.update_usage(0)
    guard.update_breaker(True)
    assert levels_of(guard.start_day("new day")) == [(HALT, STORM)], "an open breaker still demands STORM"


def test_frozen_peaks_let_pnl_fall_and_escalate_but_never_rise() -> None:
    _, guard = make()
    guard.update_pnl("mm1", 1_000_000_000)
    guard.peaks_frozen = True
    guard.update_pnl("mm1", 9_000_000_000)
    assert guard.peak_pnl_e4("mm1") == 1_000_000_000
    assert guard.drawdown_pct("mm1") == 0, "above the peak is no drawdown"
    guard.update_pnl("mm1", 1_000_000_000 + loss("1.0"))
    assert guard.level("mm1") is STORM, "a loss replayed from before the start escalates"
    guard.peaks_frozen = False
    guard.update_pnl("mm1", 9_000_000_000)
    assert guard.peak_pnl_e4("mm1") == 9_000_000_000


def test_saved_scopes_come_back_with_level_pnl_peak_and_dwell() -> None:
    clock, guard = make()
    guard.update_pnl("mm1", 2_000_000_000)
    guard.update_pnl("mm1", 2_000_000_000 + loss("1.2"))
    assert guard.level("mm1") is STORM
    clock.advance(20 * SECOND)  # 20 of the 30 s dwell served
    saved = guard.saved()

    later = FakeClock(mono_ns=5 * SECOND, wall_ns=clock.wall_ns() + 2 * SECOND)  # another process, 2 s later
    restored = StormGuard(later, StormGuardConfig(), CAPITAL)
    restored.restore(saved)
    assert restored.levels() == guard.levels()
    assert restored.peak_pnl_e4("mm1") == 2_000_000_000
    assert restored.drawdown_pct("mm1") == guard.drawdown_pct("mm1")
    restored.update_pnl("mm1", 2_000_000_000)  # recovered: the dwell decides
    assert restored.level("mm1") is STORM
    later.advance(7 * SECOND)
    assert levels_of(restored.refresh()) == [], "29 s at STORM, counting the 22 s before the restart"
    later.advance(1 * SECOND)
    assert levels_of(restored.refresh()) == [(STORM, WARM)]


def test_a_saved_scope_no_longer_configured_is_left_out() -> None:
    _, guard = make()
    bring_to(guard, WARM, "mm2")
    restored = StormGuard(FakeClock(), StormGuardConfig(), {GLOBAL_SCOPE: GLOBAL_CAPITAL, "mm1": STRATEGY_CAPITAL})
    restored.restore(guard.saved())
    assert restored.levels() == {GLOBAL_SCOPE: NORMAL, "mm1": NORMAL}
