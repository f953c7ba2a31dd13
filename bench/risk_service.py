"""Risk, measured: the whole validator chain per intent in-process, and intents per second through
the real risk service process.

    python -m bench.risk_service [--intents 20000] [--approvals]

In-process: RiskEngine.evaluate on NEW intents against a live book, with positions, one at a time
(p50/p99 per intent), and evaluate_batch on the same intents as one backlog. Through the service:
`orderpath run risk` as its own process; this process plays the feed (a book per symbol), floods
the intents socket with PUSH and counts approved orders arriving on the orders socket, as the
adapter would; `--approvals` sets publish_approvals on the strategy, so risk also publishes a
RiskDecision per approval on its PUB (what an external strategy may ask for). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
import zmq

from contracts.codec import Decoder, encode, topic_for
from contracts.enums import IntentAction, Side
from contracts.messages import MarketEvent, OrderCommand, OrderIntent
from services.local_config import write_stack_config
from services.risk.engine import RiskEngine
from services.runtime.clock import SystemClock
from services.runtime.config.instruments import load_instruments
from services.runtime.config.stack import STACK_FILE_ENV, load_stack
from services.runtime.config.strategy_limits import StrategyLimitsConfig

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = ("2330", "2317", "2454")
WIDE_OPEN = {
    "id": "bench", "class": "bench.strategies:EveryTick", "symbols": list(SYMBOLS),
    "limits": {"max_order_qty": 10, "max_order_notional_twd": 100_000_000, "max_position_qty": 1_000_000_000,
               "max_gross_notional_twd": 10**15, "max_orders_per_window": 10**9},
}
GLOBAL = {"max_gross_notional_twd": 10**15, "max_orders_per_window": 10**9, "capital_twd": 10**12}
# The bench publishes each book once: they must stay fresh for the whole flood.
BOOK = {"max_book_age_ms": 3_600_000}
LIMITS = {"strategies": [WIDE_OPEN], "global": GLOBAL, "book": BOOK}


def books(clock: SystemClock) -> list[MarketEvent]:
    refs = load_instruments(REPO / "config" / "instruments.yaml")
    out = []
    for seq, symbol in enumerate(SYMBOLS, start=1):
        bid = refs[symbol].reference_e4
        tick = 50_000 if bid >= 10_000_000 else 5000
        out.append(MarketEvent(
            symbol=symbol, seq=seq, exch_ts_ns=clock.wall_ns(), ingest_ts_ns=clock.mono_ns(),
            bid_prices_e4=[bid - k * tick for k in range(5)], bid_qtys=[10] * 5,
            ask_prices_e4=[bid + (k + 1) * tick for k in range(5)], ask_qtys=[10] * 5,
        ))
    return out


def intents(count: int, clock: SystemClock, book_events: list[MarketEvent]) -> list[OrderIntent]:
    deadline = clock.mono_ns() + 600 * 1_000_000_000
    return [
        OrderIntent(
            intent_id=f"bench.b.{k}", strategy_id="bench", seq=k, action=IntentAction.NEW,
            client_order_id=f"bench.b.{k}", symbol=event.symbol, side=Side.BUY, qty=1 + k % 3,
            price_e4=event.bid_prices_e4[k % 5], created_ts_ns=0, ingest_ts_ns=0, deadline_ns=deadline,
        )
        for k, event in ((k, book_events[k % len(book_events)]) for k in range(count))
    ]


def in_process(count: int) -> None:
    clock = SystemClock()
    limits = StrategyLimitsConfig.model_validate(LIMITS)
    instruments = load_instruments(REPO / "config" / "instruments.yaml")
    book_events = books(clock)
    batch = intents(count, clock, book_events)

    engine = RiskEngine(clock, limits, instruments)
    for event in book_events:
        engine.on_market(event)
    costs = np.empty(count, dtype=np.int64)
    for k, intent in enumerate(batch):
        started = time.perf_counter_ns()
        engine.evaluate(intent)
        costs[k] = time.perf_counter_ns() - started
    p50, p99 = np.percentile(costs, [50, 99]) / 1000
    print(f"in-process, one at a time: p50 {p50:.2f} µs, p99 {p99:.2f} µs per intent "
          f"({1e6 / p50:,.0f} checks/s at the median)")

    engine = RiskEngine(clock, limits, instruments)
    for event in book_events:
        engine.on_market(event)
    started = time.perf_counter_ns()
    engine.evaluate_batch(batch)
    per_intent_us = (time.perf_counter_ns() - started) / count / 1000
    print(f"in-process, one backlog of {count}: {per_intent_us:.2f} µs per intent "
          f"({1e6 / per_intent_us:,.0f} checks/s)")


def through_service(count: int, approvals: bool = False) -> None:
    clock = SystemClock()
    strategy = {**WIDE_OPEN, "publish_approvals": True} if approvals else WIDE_OPEN
    with tempfile.TemporaryDirectory(prefix="orderpath-risk-bench-") as folder:
        # Risk alone: no control to make the CURVE keys, so the operator plane is left open.
        config = write_stack_config(Path(folder), strategies=[WIDE_OPEN], heartbeat_interval_ms=1000,
                                    curve_ops=False)
        config.with_name("strategy_limits.yaml").write_text(yaml.safe_dump({**LIMITS, "strategies": [strategy]}),
                                                            encoding="utf-8")
        stack = load_stack(config)
        context = zmq.Context()
        md = context.socket(zmq.XPUB)
        md.setsockopt(zmq.XPUB_VERBOSE, 1)
        md.bind(stack.endpoints.md)
        spawn = mp.get_context("spawn")
        ready, results = spawn.Event(), spawn.Queue()
        sink = spawn.Process(target=_sink, args=(stack.endpoints.orders, count + 1, ready, results), daemon=True)
        sink.start()
        ready.wait(30)
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, 100_000)
        push.connect(stack.endpoints.intents)
        env = {**os.environ, STACK_FILE_ENV: str(config), "SJ_LOG_PATH": os.devnull, "ORDERPATH_LOG_LEVEL": "WARNING"}
        risk = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "risk"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not md.poll(30_000):
                raise SystemExit("risk never subscribed to md")
            md.recv()
            book_events = books(clock)
            # The book must be in risk before the flood: the first intent goes once the books are sent
            # and risk has had time to subscribe; what matters is the rate over the flood that follows.
            for event in book_events:
                md.send_multipart((topic_for(event), encode(event)))
            time.sleep(1.0)
            flood = [encode(i) for i in intents(count + 1, clock, book_events)]
            started = time.perf_counter()
            for payload in flood:
                push.send_multipart((b"intent", payload))
            received, _first_at, last_at = results.get(timeout=120)
            elapsed = last_at - started
        finally:
            risk.terminate()
            risk.wait(10)
            sink.join(10)
            context.destroy(linger=0)
    print(f"through the risk service{' (approvals published)' if approvals else ''}: {received} of {count + 1} "
          f"intents approved in {elapsed:.2f} s "
          f"= {received / elapsed:,.0f} intents/s")


def _sink(endpoint: str, count: int, ready: mp.Event, results: mp.Queue) -> None:
    """The adapter's side, in its own process so it keeps up: counts approved orders until `count`
    have come or none has for 5 s; reports how many and when the last one came."""
    context = zmq.Context()
    orders = context.socket(zmq.PULL)
    orders.setsockopt(zmq.RCVHWM, 100_000)
    orders.bind(endpoint)
    ready.set()
    decoder = Decoder(OrderCommand)
    received, first_at, last_at = 0, 0.0, 0.0
    while received < count and orders.poll(5000):
        decoder.decode(orders.recv_multipart()[1])
        received += 1
        last_at = time.perf_counter()
        first_at = first_at or last_at
    results.put((received, first_at, last_at))
    context.destroy(linger=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=20_000)
    parser.add_argument("--approvals", action="store_true", help="risk publishes a decision per approval too")
    args = parser.parse_args(argv)
    in_process(args.intents)
    through_service(args.intents, args.approvals)


if __name__ == "__main__":
    main()
