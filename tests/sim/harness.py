"""The order path in one process: a recorded stream through the real runner, risk engine, order
manager and SimBroker, with a fake clock and the broker's callbacks run in order, so a replay is
exactly repeatable. Sockets and processes are the e2e tests' business; this is the logic."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from contracts.codec import Decoder
from contracts.enums import IntentAction
from contracts.messages import ExecutionReport, MarketEvent, OrderCommand, OrderIntent, RiskDecision
from services.adapter.brokers.sim import SimBroker
from services.adapter.journal import Journal
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_manager import OrderManager
from services.adapter.reports import ReportWriter
from services.feed.replay import RecordReader, ReplayBooks
from services.risk.engine import RiskEngine
from services.risk.stormguard import Transition
from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.config.instruments import load_instruments
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.strategy.api import Strategy
from services.strategy.runner import RunnerMetrics, StrategyRunner

REPO = Path(__file__).resolve().parents[2]


class ReportLog:
    """The adapter's exec stream, kept in order."""

    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []
        self._decoder = Decoder(ExecutionReport)

    def send_multipart(self, frames: tuple[bytes, bytes]) -> None:
        self.reports.append(self._decoder.decode(frames[1]))


@dataclass
class SimRun:
    intents: list[OrderIntent] = field(default_factory=list)
    commands: list[OrderCommand] = field(default_factory=list)
    rejects: list[RiskDecision] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    halt_cancels: list[OrderCommand] = field(default_factory=list)


class OrderPathSim:
    def __init__(self, limits: StrategyLimitsConfig, strategies: list[Strategy]) -> None:
        self.clock = FakeClock()
        log = structlog.get_logger()
        self.instruments = load_instruments(REPO / "config" / "instruments.yaml")
        self.runner = StrategyRunner(self.clock, RunnerMetrics(CollectorRegistry()), log, epoch="sim")
        for strategy in strategies:
            self.add_strategy(strategy, limits)
        self.engine = RiskEngine(self.clock, limits, self.instruments)
        self.scheduler = ManualScheduler(self.clock)
        config = OrderAdapterConfig()
        self.broker = SimBroker(config.sim.model_copy(update={"ack_latency_us": 0}), self.scheduler.call_later,
                                clock=self.clock)
        self.reports = ReportLog()
        self._journal_dir = tempfile.TemporaryDirectory(prefix="orderpath-sim-")
        journal = Journal(Path(self._journal_dir.name) / "journal.sqlite", self.clock)
        self.manager = OrderManager(self.clock, self.scheduler, self.broker, journal,
                                    ReportWriter(journal, self.reports.send_multipart), config,
                                    AdapterMetrics(CollectorRegistry()), log)
        self.run = SimRun()
        self._delivered = 0

    def add_strategy(self, strategy: Strategy, limits: StrategyLimitsConfig) -> None:
        entry = next(e for e in limits.strategies if e.id == strategy.strategy_id)
        self.runner.add(strategy, budget_us=entry.budget_us, intent_ttl_ms=entry.intent_ttl_ms, enabled=True)

    def replay(self, path: Path) -> SimRun:
        books = ReplayBooks()
        last_ts: int | None = None
        for seq, record in enumerate(RecordReader(path, strict=True).records(), start=1):
            if last_ts is not None:
                self.clock.advance(record.exch_ts_ns - last_ts)
            last_ts = record.exch_ts_ns
            if books.apply(record):
                self.step(books.event(record.symbol, seq=seq, ingest_ts_ns=self.clock.mono_ns()))
        return self.run

    def step(self, event: MarketEvent) -> None:
        """One market event through the whole path, until nothing more happens."""
        self.engine.on_market(event)
        self.broker.on_market(event)
        self._settle()
        self._send(self.runner.on_market(event))
        self._on_transitions(self.engine.mark_to_market())
        self._settle()

    def _send(self, intents: list[OrderIntent]) -> None:
        for intent in intents:
            self.run.intents.append(intent)
            outcome = self.engine.evaluate(intent)
            if isinstance(outcome, RiskDecision):
                self.run.rejects.append(outcome)
                self._send(self.runner.on_reject(outcome))
            else:
                self.run.commands.append(outcome)
                self.manager.on_command(outcome)
                self._settle()

    def _on_transitions(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            self.run.transitions.append(transition)
            if transition.to_level.severity == 3:
                for cancel in self.engine.cancels_for(transition.scope):
                    assert cancel.action is IntentAction.CANCEL
                    self.run.halt_cancels.append(cancel)
                    self.manager.on_command(cancel)

    def _settle(self) -> None:
        """Run the broker's answers and hand every new report to risk and the runner, in order."""
        while self.scheduler.run_due() or self._delivered < len(self.reports.reports):
            while self._delivered < len(self.reports.reports):
                report = self.reports.reports[self._delivered]
                self._delivered += 1
                self._on_transitions(self.engine.on_execution(report))
                self._send(self.runner.on_execution(report))
