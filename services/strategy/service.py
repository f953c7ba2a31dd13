"""The strategy service: market data in, intents out to risk; fills, rejects and StormGuard state back in."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Mapping

import zmq

from contracts.codec import encode
from contracts.enums import Reason, ServiceName
from contracts.messages import (
    ControlCommand,
    ExecutionReport,
    MarketEvent,
    OrderIntent,
    RiskDecision,
    StormGuardState,
)
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyEntry, StrategyLimitsConfig
from services.runtime.control_link import follow_control
from services.runtime.exec_stream import ExecStream, read_exec_stream
from services.runtime.hot_config import STRATEGY_LIMITS, read_versioned
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import send_topic
from services.strategy.loader import load_strategy
from services.strategy.reload import apply_entries
from services.strategy.runner import RunnerMetrics, StrategyRunner

INTENT_TOPIC = b"intent"
STRATEGY_IDS_ENV = "ORDERPATH_STRATEGY_IDS"


class UnknownStrategies(ValueError):
    """ORDERPATH_STRATEGY_IDS names a strategy the desk's file does not have, or an external one."""


def hosted_entries(limits: StrategyLimitsConfig, environ: Mapping[str, str]) -> list[StrategyEntry]:
    """The strategies this runner hosts: all of the desk's with a class, or the ones ORDERPATH_STRATEGY_IDS
    names (comma-separated), so several runners can each host their own and PUSH into one risk. An
    external strategy (no class) is never hosted."""
    wanted = [sid.strip() for sid in environ.get(STRATEGY_IDS_ENV, "").split(",") if sid.strip()]
    if not wanted:
        return [entry for entry in limits.strategies if not entry.external]
    known = {entry.id: entry for entry in limits.strategies}
    unknown = [sid for sid in wanted if sid not in known]
    if unknown:
        raise UnknownStrategies(f"{STRATEGY_IDS_ENV} names {', '.join(unknown)}, not in the strategy limits file; "
                                f"known: {', '.join(sorted(known))}")
    external = [sid for sid in wanted if known[sid].external]
    if external:
        raise UnknownStrategies(f"{STRATEGY_IDS_ENV} names {', '.join(external)}, external (no class in the strategy "
                                "limits file): a runner cannot host it")
    return [known[sid] for sid in wanted]


class StrategyService:
    """The strategy runner's wiring: market data and execution reports in to the hosted strategies, their intents
    out to risk, risk's rejects and control's state back in, reloads of strategy_limits.yaml applied. Raises
    UnknownStrategies if ORDERPATH_STRATEGY_IDS names a strategy it cannot host."""

    def __init__(self, rt: ServiceRuntime, stack: StackConfig) -> None:
        self.rt = rt
        limits_read = read_versioned(stack.strategy_limits_file, StrategyLimitsConfig)
        entries = hosted_entries(limits_read.model, os.environ)
        self.runner = StrategyRunner(rt.clock, RunnerMetrics(rt.metrics.registry), rt.log,
                                     epoch=format(rt.clock.wall_ns() // 1_000_000, "x"))
        for entry in entries:
            self.runner.add(load_strategy(entry), budget_us=entry.budget_us, intent_ttl_ms=entry.intent_ttl_ms,
                            enabled=entry.enabled, disable_on_budget=entry.disable_on_budget_violations)
        self.in_force: dict[str, StrategyEntry] = {entry.id: entry for entry in entries}
        """Each hosted strategy's entry as applied: a reload takes only part of a new one (reload.py)."""
        self.operator_enabled: dict[str, bool] = {}
        """The operator's switch of each strategy, as last applied from control's state."""
        self.intents_out: zmq.Socket = rt.sockets.order_sender(stack.endpoints.intents)
        rt.watch_peer(self.intents_out, "intents")

        sockets, endpoints = rt.sockets, stack.endpoints
        rt.read(sockets.subscriber(endpoints.md, [s.encode() for s in self.runner.symbols]), "md", (MarketEvent,),
                self._on_market)
        # Open orders and positions come from every report, in seq order, once (gaps re-asked of the adapter);
        # at start the history is replayed from the adapter's journal, so a restarted runner has them back.
        self.stream: ExecStream = read_exec_stream(rt, self._on_execution, self.runner.on_usage, catch_up_from=1)
        rt.read(sockets.subscriber(endpoints.risk, [b"decision"]), "risk", (RiskDecision,), self._on_decision)
        follow_control(rt, self._on_state, self._on_command).hot.follow(
            STRATEGY_LIMITS, stack.strategy_limits_file, StrategyLimitsConfig, limits_read, self._apply_limits)
        rt.log.info("strategies_loaded", strategies=sorted(self.runner.hosted), symbols=self.runner.symbols)

    def _send(self, intents: list[OrderIntent]) -> None:
        """Send without blocking; a dropped intent is a reject the strategy hears of, and whatever it
        answers with joins the queue (a loop, not recursion: a full socket may refuse those too)."""
        runner = self.runner
        pending = deque(intents)
        while pending:
            intent = pending.popleft()
            try:
                send_topic(self.intents_out, INTENT_TOPIC, encode(intent))
                runner.sent(intent)
            except zmq.Again:
                decision = runner.dropped(intent, Reason.QUEUE_BACKPRESSURE)
                self.rt.log.warning("intent_dropped", intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                                    reason=Reason.QUEUE_BACKPRESSURE, stormguard_state=runner.global_level)
                pending.extend(runner.on_reject(decision))

    def _on_market(self, event: MarketEvent) -> None:
        self._send(self.runner.on_market(event))

    def _on_execution(self, report: ExecutionReport) -> None:
        self._send(self.runner.on_execution(report, history=self.stream.catching_up))

    def _on_decision(self, decision: RiskDecision) -> None:
        if not decision.approved:
            self._send(self.runner.on_reject(decision))

    def _on_state(self, state: StormGuardState, source: str) -> None:
        """Control's state: levels, and the operator's switches that changed since the last state applied
        (applied once: a strategy the runner disabled for raising stays disabled on a re-broadcast)."""
        self.runner.on_stormguard(state)
        for strategy_id, enabled in state.strategy_enabled.items():
            if self.operator_enabled.get(strategy_id) is enabled or strategy_id not in self.runner.hosted:
                continue
            self.operator_enabled[strategy_id] = enabled
            self.runner.set_enabled(strategy_id, enabled)
            self.rt.log.info("strategy_toggled", strategy_id=strategy_id,
                             verb="enable_strategy" if enabled else "disable_strategy", source=source)

    def _on_command(self, message: ControlCommand) -> None:
        """Nothing the runner does is a one-off command today: what it obeys is in the state."""

    def _apply_limits(self, new_limits: StrategyLimitsConfig) -> list[str]:
        """A reloaded strategy_limits.yaml (validated by control, fetched and validated again here)."""
        try:
            new_entries = hosted_entries(new_limits, os.environ)
        except UnknownStrategies as error:
            return [f"not applied: {error}"]
        return apply_entries(self.runner, self.in_force, new_entries, self.operator_enabled)

    def run(self) -> int:
        return self.rt.run()


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.STRATEGY, stack)
    try:
        service = StrategyService(rt, stack)
    except UnknownStrategies as error:
        rt.log.error("strategy_ids_refused", reason=str(error))
        print(f"error: {error}", file=sys.stderr)
        return 2
    return service.run()
