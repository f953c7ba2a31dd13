"""The shipped calm session replayed into stub strategies: exact intents, reject reasons, budget verdicts."""

from __future__ import annotations

import time

from contracts.enums import IntentAction, Reason
from contracts.market_rules import ticks_away
from contracts.messages import MarketEvent
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.strategy.api import Strategy, StrategyContext
from services.strategy.strategies.momentum import Momentum
from services.strategy.strategies.quoter import Quoter
from tests.sim.harness import REPO, OrderPathSim

CALM = REPO / "data" / "sample_ticks.jsonl"
# The budget is far above what a fast call costs even with a GC pause in a full test run, and the
# slow call far above the budget, so the verdicts do not depend on how busy the machine is.
SLOW_NS = 60_000_000


class Prober(Strategy):
    """On the first book of each symbol, one good order and one bad order of a known kind; slow once."""

    def on_start(self, ctx: StrategyContext) -> None:
        self.seen: set[str] = set()
        self.instrument = self.params["instruments"]

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if event.symbol in self.seen:
            return
        self.seen.add(event.symbol)
        bid, ask = event.bid_prices_e4[0], event.ask_prices_e4[0]
        ctx.buy(event.symbol, 1, bid)
        if event.symbol == "2330":
            ctx.buy(event.symbol, 1, bid + 1)  # off the ladder
        elif event.symbol == "2317":
            ctx.buy(event.symbol, 99, bid)  # over max_order_qty
        else:
            ctx.buy(event.symbol, 1, ticks_away(self.instrument[event.symbol], ask, 6))  # 6 ticks through
            started = time.perf_counter_ns()
            while time.perf_counter_ns() - started <= SLOW_NS:
                pass


LIMITS = StrategyLimitsConfig.model_validate({
    "strategies": [
        {"id": "probe", "class": "tests.sim.test_replay_sample:Prober", "symbols": ["2330", "2317", "2454"],
         "budget_us": 20_000, "limits": {"max_order_qty": 5}},
        {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330", "2317", "2454"]},
        {"id": "mo1", "class": "services.strategy.strategies.momentum:Momentum", "symbols": ["2330", "2317", "2454"]},
    ],
    "book": {"max_book_age_ms": 60_000},
})


def replay(*strategy_ids: str) -> OrderPathSim:
    sim = OrderPathSim(LIMITS, [])
    make = {
        "probe": lambda: Prober("probe", ["2330", "2317", "2454"], {"instruments": sim.instruments}),
        "mm1": lambda: Quoter("mm1", ["2330", "2317", "2454"], {"qty": 1, "max_position": 5}),
        "mo1": lambda: Momentum("mo1", ["2330", "2317", "2454"], {"qty": 1, "lookback": 10, "trigger_ticks": 2}),
    }
    for strategy_id in strategy_ids:
        sim.add_strategy(make[strategy_id](), LIMITS)
    sim.replay(CALM)
    return sim


def test_stub_strategy_gets_exactly_the_expected_verdicts() -> None:
    sim = replay("probe")
    run = sim.run
    assert [(i.symbol, i.action, i.qty) for i in run.intents] == [
        ("2330", IntentAction.NEW, 1), ("2330", IntentAction.NEW, 1),
        ("2317", IntentAction.NEW, 1), ("2317", IntentAction.NEW, 99),
        ("2454", IntentAction.NEW, 1), ("2454", IntentAction.NEW, 1),
    ]
    by_id = {intent.client_order_id: intent for intent in run.intents}
    assert [(by_id[r.client_order_id].symbol, r.reason) for r in run.rejects] == [
        ("2330", Reason.OFF_TICK), ("2317", Reason.SIZE_LIMIT), ("2454", Reason.PRICE_BAND)]
    assert [c.symbol for c in run.commands] == ["2330", "2317", "2454"]
    violations = [sample.value for family in sim.runner.metrics.budget_violations.collect()
                  for sample in family.samples if sample.name.endswith("_total")]
    assert violations == [1.0], "exactly the one slow call broke the budget"


def test_the_sample_strategies_trade_the_calm_session_the_same_way_twice() -> None:
    first, second = replay("mm1", "mo1"), replay("mm1", "mo1")
    assert first.run.intents, "the samples trade the calm session"
    assert {i.strategy_id for i in first.run.intents} == {"mm1", "mo1"}
    key = [(i.strategy_id, i.action, i.symbol, i.side, i.qty, i.price_e4) for i in first.run.intents]
    assert key == [(i.strategy_id, i.action, i.symbol, i.side, i.qty, i.price_e4) for i in second.run.intents]
    assert [(r.reason, r.detail) for r in first.run.rejects] == [(r.reason, r.detail) for r in second.run.rejects]
    assert [(r.exec_type, r.client_order_id, r.last_qty) for r in first.reports.reports] == [
        (r.exec_type, r.client_order_id, r.last_qty) for r in second.reports.reports
    ]
