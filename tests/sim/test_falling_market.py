"""A sell-off replayed into a long-only strategy walks StormGuard up NORMAL → WARM → STORM → HALT."""

from __future__ import annotations

from contracts.enums import IntentAction, OrderStatus, Reason, Side, StormGuardLevel
from contracts.messages import GLOBAL_SCOPE
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from tests.sim.harness import REPO, OrderPathSim
from tests.sim.long_only import LongOnly

SELLOFF = REPO / "data" / "selloff_2330.jsonl"
LIMITS = StrategyLimitsConfig.model_validate({
    "strategies": [{
        "id": "lo", "class": "tests.sim.long_only:LongOnly", "symbols": ["2330"], "capital_twd": 20_000_000,
        "limits": {"max_order_qty": 10, "max_order_notional_twd": 20_000_000, "max_position_qty": 100},
    }],
    "global": {"capital_twd": 1_000_000_000},
    "book": {"max_book_age_ms": 60_000},
})


def run_selloff() -> OrderPathSim:
    sim = OrderPathSim(LIMITS, [])
    sim.add_strategy(LongOnly("lo", ["2330"], {"instrument": sim.instruments["2330"]}), LIMITS)
    sim.replay(SELLOFF)
    return sim


def test_selloff_walks_the_strategy_up_every_level_to_halt() -> None:
    run = run_selloff().run
    steps = [(t.from_level, t.to_level) for t in run.transitions if t.scope == "lo"]
    assert steps == [
        (StormGuardLevel.NORMAL, StormGuardLevel.WARM),
        (StormGuardLevel.WARM, StormGuardLevel.STORM),
        (StormGuardLevel.STORM, StormGuardLevel.HALT),
    ]
    assert all(t.scope != GLOBAL_SCOPE for t in run.transitions), "1 G of desk capital stays NORMAL"


def test_warm_halves_new_orders() -> None:
    run = run_selloff().run
    warm_news = [c for c in run.commands if c.action is IntentAction.NEW and c.stormguard_state is StormGuardLevel.WARM]
    assert warm_news, "the strategy kept bidding while WARM"
    assert {c.qty for c in warm_news} == {1}, "2 lots scaled by 0.5"


def test_storm_is_close_only_and_halt_passes_nothing() -> None:
    run = run_selloff().run
    reasons = [r.reason for r in run.rejects]
    assert Reason.STORMGUARD_CLOSE_ONLY in reasons
    assert Reason.STORMGUARD_HALT in reasons
    first_halt = reasons.index(Reason.STORMGUARD_HALT)
    assert Reason.STORMGUARD_CLOSE_ONLY not in reasons[first_halt:], "HALT rejects as HALT, not as STORM"
    assert all(r.stormguard_state is not StormGuardLevel.NORMAL for r in run.rejects)


def test_halt_cancels_every_working_order_of_the_scope() -> None:
    sim = run_selloff()
    take_profit = next(c for c in sim.run.commands if c.action is IntentAction.NEW and c.side is Side.SELL)
    assert [c.client_order_id for c in sim.run.halt_cancels] == [take_profit.client_order_id]
    cancelled = [r for r in sim.reports.reports if r.client_order_id == take_profit.client_order_id][-1]
    assert cancelled.status is OrderStatus.CANCELLED
    assert not sim.engine.positions.working_orders("lo")
    assert not sim.manager.orders.live


def test_replay_is_deterministic() -> None:
    first, second = run_selloff().run, run_selloff().run
    assert [(i.action, i.side, i.qty, i.price_e4) for i in first.intents] == [
        (i.action, i.side, i.qty, i.price_e4) for i in second.intents
    ]
    assert [(r.reason, r.detail) for r in first.rejects] == [(r.reason, r.detail) for r in second.rejects]
