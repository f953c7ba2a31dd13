"""The strategy runner, in-process: market events per second with the two sample strategies, and
the overhead the runner adds around one strategy call.

    python -m bench.runner [--events 50000]

Events come from the synthetic market (three symbols); every intent is answered at once (acked,
amended, cancelled), as the adapter would, so the quoter re-quotes as it does live. The overhead is measured with a
strategy that does nothing: what is left is context, timing, metrics and dispatch. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from contracts.enums import ExecType, IntentAction, OrderStatus
from contracts.messages import ExecutionReport, MarketEvent, OrderIntent
from services.feed.synthetic import SyntheticMarket
from services.runtime.clock import SystemClock
from services.runtime.config.instruments import load_instruments
from services.strategy.api import Strategy, StrategyContext
from services.strategy.runner import RunnerMetrics, StrategyRunner
from services.strategy.strategies.momentum import Momentum
from services.strategy.strategies.quoter import Quoter

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = ["2330", "2317", "2454"]


class Idle(Strategy):
    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        return None


def market(count: int) -> list[MarketEvent]:
    synthetic = SyntheticMarket(load_instruments(REPO / "config" / "instruments.yaml"), SYMBOLS, seed=3)
    return [synthetic.next_event(k, 0, 0) for k in range(1, count + 1)]


def runner_with(*strategies: Strategy) -> StrategyRunner:
    runner = StrategyRunner(SystemClock(), RunnerMetrics(CollectorRegistry()), structlog.get_logger(), epoch="b")
    for strategy in strategies:
        runner.add(strategy, budget_us=1000, intent_ttl_ms=500, enabled=True)
    return runner


ANSWERS = {
    IntentAction.NEW: (ExecType.ACK, OrderStatus.WORKING),
    IntentAction.AMEND: (ExecType.AMENDED, OrderStatus.WORKING),
    IntentAction.CANCEL: (ExecType.CANCELLED, OrderStatus.CANCELLED),
}


def answer(intent: OrderIntent, seq: int) -> ExecutionReport:
    """What the broker would say at once: acked, amended or cancelled."""
    exec_type, status = ANSWERS[intent.action]
    leaves = 0 if status is OrderStatus.CANCELLED else intent.qty
    return ExecutionReport(
        seq=seq, client_order_id=intent.client_order_id, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
        symbol=intent.symbol, side=intent.side, exec_type=exec_type, status=status,
        price_e4=intent.price_e4, qty=intent.qty, cum_qty=0, leaves_qty=leaves, ts_ns=0,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args(argv)
    events = market(args.events)

    runner = runner_with(Quoter("mm1", SYMBOLS, {"qty": 1, "max_position": 5}),
                         Momentum("mo1", SYMBOLS, {"qty": 1, "lookback": 20, "trigger_ticks": 3}))
    intents = seq = 0
    started = time.perf_counter_ns()
    for event in events:
        for intent in runner.on_market(event):
            intents += 1
            seq += 1
            runner.on_execution(answer(intent, seq))
    elapsed_s = (time.perf_counter_ns() - started) / 1e9
    print(f"quoter + momentum: {len(events) / elapsed_s:,.0f} market events/s "
          f"({intents} intents, each answered)")

    idle = runner_with(Idle("idle", SYMBOLS, {}))
    started = time.perf_counter_ns()
    for event in events:
        idle.on_market(event)
    per_call_us = (time.perf_counter_ns() - started) / len(events) / 1000
    print(f"runner overhead around one strategy call (an idle strategy): {per_call_us:.2f} µs")


if __name__ == "__main__":
    main()
