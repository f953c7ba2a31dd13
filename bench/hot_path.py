"""Per-stage CPU cost of the hot path, in-process, without sockets: where a tick's microseconds go.

    python -m bench.hot_path

Drives the real engines (StrategyRunner with EveryTick, RiskEngine, OrderManager with SimBroker)
with the real codec, and prints the mean cost of each stage. Prints figures; asserts nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import structlog
import zmq
from prometheus_client import CollectorRegistry

from bench.risk_service import LIMITS, books
from bench.strategies import EveryTick
from contracts.codec import Decoder, encode
from contracts.messages import MarketEvent, OrderCommand, OrderIntent
from services.adapter.brokers.sim import SimBroker
from services.adapter.journal import Journal
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_manager import OrderManager
from services.adapter.reports import ReportWriter
from services.risk.engine import RiskEngine
from services.runtime.clock import SystemClock
from services.runtime.config.instruments import load_instruments
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.loop import drain
from services.runtime.sockets import send_topic
from services.strategy.runner import RunnerMetrics, StrategyRunner

ROUNDS = 20_000
REPO = Path(__file__).resolve().parents[1]


class Timers:
    """The adapter's timers (command deadlines) are not what this bench measures: they never fire."""

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> None:
        pass


class StampedSim(SimBroker):
    """SimBroker noting when the adapter calls place(): the adapter's share of a NEW ends there."""

    placed_ns = 0

    def place(self, command: OrderCommand) -> None:
        self.placed_ns = time.perf_counter_ns()
        super().place(command)


def mean_us(label: str, fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    started = time.perf_counter_ns()
    for _ in range(rounds):
        fn()
    cost = (time.perf_counter_ns() - started) / rounds / 1000
    print(f"  {label:<44}{cost:8.2f} µs")
    return cost


def main() -> None:
    clock = SystemClock()
    log = structlog.get_logger()
    instruments = load_instruments(REPO / "config" / "instruments.yaml")
    limits = StrategyLimitsConfig.model_validate(LIMITS)
    runner = StrategyRunner(clock, RunnerMetrics(CollectorRegistry()), log, epoch="b")
    runner.add(EveryTick("bench", ["2330"], {}), budget_us=1000, intent_ttl_ms=60_000, enabled=True)
    engine = RiskEngine(clock, limits, instruments)
    pending: list[Callable[[], None]] = []
    adapter_config = OrderAdapterConfig.model_validate(
        {"soft_cap": 1_000_000_000, "sim": {"ack_latency_us": 0, "rate_cap": 1_000_000_000}})
    broker = StampedSim(adapter_config.sim, lambda _delay, callback: pending.append(callback))
    # On the repo's disk, as a deployed journal would be, not on a tmpfs /tmp.
    (REPO / "var").mkdir(exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="orderpath-hot-path-", dir=REPO / "var")
    idle: list[Callable[[], None]] = []
    journal = Journal(Path(scratch.name) / "adapter-journal.sqlite", clock, when_idle=idle.append)
    manager = OrderManager(clock, Timers(), broker, journal, ReportWriter(journal, lambda frames: None),
                           adapter_config, AdapterMetrics(CollectorRegistry()), log)

    event = books(clock)[0]
    engine.on_market(event)
    md_bytes = encode(event)
    md_decoder, intent_decoder, order_decoder = Decoder(MarketEvent), Decoder(OrderIntent), Decoder(OrderCommand)
    print(f"hot path stages, mean of {ROUNDS} calls each")
    mean_us("md decode", lambda: md_decoder.decode(md_bytes))
    intent = runner.on_market(event)[0]
    intent_bytes = encode(intent)
    mean_us("intent encode", lambda: encode(intent))
    mean_us("intent decode", lambda: intent_decoder.decode(intent_bytes))
    fresh = iter([msgspec.structs.replace(intent, intent_id=f"b.{k}", client_order_id=f"b.{k}")
                  for k in range(ROUNDS)])
    mean_us("risk evaluate (whole chain, approve)", lambda: engine.evaluate(next(fresh)))
    command = engine.evaluate(msgspec.structs.replace(intent, intent_id="b.last", client_order_id="b.last"))
    assert isinstance(command, OrderCommand), command
    command_bytes = encode(command)
    mean_us("order encode", lambda: encode(command))
    mean_us("order decode", lambda: order_decoder.decode(command_bytes))

    def strategy_turn() -> None:
        runner.states["bench"].open_orders.clear()
        runner.on_market(event)

    mean_us("strategy on_market (EveryTick, one NEW)", strategy_turn)

    def adapter_turn() -> None:
        manager.on_command(command)
        manager.orders.live.clear()
        manager.orders._closed.clear()
        pending.clear()
        while idle:  # the loop's idle moment between orders
            idle.pop()()

    mean_us("adapter on_command (NEW, journaled, to SimBroker)", adapter_turn)
    to_call: list[int] = []
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        adapter_turn()
        to_call.append(broker.placed_ns - started)
    to_call.sort()
    print(f"  {'adapter NEW -> broker call (journaled)':<44}{to_call[ROUNDS // 2] / 1000:8.2f} µs p50, "
          f"{to_call[ROUNDS * 99 // 100] / 1000:.2f} µs p99 (journal at process, checkpoints at idle)")
    scratch.cleanup()
    socket_calls(command_bytes)


def socket_calls(payload: bytes) -> None:
    """pyzmq's Python-side cost per message on an inproc pair (no IO thread, no kernel): what the
    services' own calls add, apart from the hop itself."""
    context = zmq.Context()
    push, pull = context.socket(zmq.PUSH), context.socket(zmq.PULL)
    push.setsockopt(zmq.SNDHWM, 0)
    pull.setsockopt(zmq.RCVHWM, 0)
    pull.bind("inproc://hot-path")
    push.connect("inproc://hot-path")
    mean_us("send [topic, payload]: send_multipart", lambda: push.send_multipart((b"order", payload), zmq.NOBLOCK))
    mean_us("send [topic, payload]: send_topic", lambda: send_topic(push, b"order", payload))
    mean_us("receive one queued message (loop drain)", lambda: next(drain(pull)), rounds=2 * ROUNDS)
    context.destroy(linger=0)


if __name__ == "__main__":
    main()
