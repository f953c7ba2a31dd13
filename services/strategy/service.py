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
from services.runtime.exec_stream import read_exec_stream
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


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.STRATEGY, stack)
    limits_read = read_versioned(stack.strategy_limits_file, StrategyLimitsConfig)
    limits = limits_read.model
    try:
        entries = hosted_entries(limits, os.environ)
    except UnknownStrategies as error:
        rt.log.error("strategy_ids_refused", reason=str(error))
        print(f"error: {error}", file=sys.stderr)
        return 2
    runner = StrategyRunner(rt.clock, RunnerMetrics(rt.metrics.registry), rt.log,
                            epoch=format(rt.clock.wall_ns() // 1_000_000, "x"))
    for entry in entries:
        runner.add(load_strategy(entry), budget_us=entry.budget_us, intent_ttl_ms=entry.intent_ttl_ms,
                   enabled=entry.enabled, disable_on_budget=entry.disable_on_budget_violations)

    intents_out = rt.sockets.order_sender(stack.endpoints.intents)
    rt.watch_peer(intents_out, "intents")

    def send(intents: list[OrderIntent]) -> None:
        """Send without blocking; a dropped intent is a reject the strategy hears of, and whatever it
        answers with joins the queue (a loop, not recursion: a full socket may refuse those too)."""
        pending = deque(intents)
        while pending:
            intent = pending.popleft()
            try:
                send_topic(intents_out, INTENT_TOPIC, encode(intent))
                runner.sent(intent)
            except zmq.Again:
                decision = runner.dropped(intent, Reason.QUEUE_BACKPRESSURE)
                rt.log.warning("intent_dropped", intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                               reason=Reason.QUEUE_BACKPRESSURE, stormguard_state=runner.global_level)
                pending.extend(runner.on_reject(decision))

    def on_decision(decision: RiskDecision) -> None:
        if not decision.approved:
            send(runner.on_reject(decision))

    operator_enabled: dict[str, bool] = {}

    def on_state(state: StormGuardState, source: str) -> None:
        """Control's state: levels, and the operator's switches that changed since the last state applied
        (applied once: a strategy the runner disabled for raising stays disabled on a re-broadcast)."""
        runner.on_stormguard(state)
        for strategy_id, enabled in state.strategy_enabled.items():
            if operator_enabled.get(strategy_id) is enabled or strategy_id not in runner.hosted:
                continue
            operator_enabled[strategy_id] = enabled
            runner.set_enabled(strategy_id, enabled)
            rt.log.info("strategy_toggled", strategy_id=strategy_id,
                        verb="enable_strategy" if enabled else "disable_strategy", source=source)

    def on_command(message: ControlCommand) -> None:
        """Nothing the runner does is a one-off command today: what it obeys is in the state."""

    def on_execution(report: ExecutionReport) -> None:
        send(runner.on_execution(report, history=stream.catching_up))

    sockets, endpoints = rt.sockets, stack.endpoints
    rt.read(sockets.subscriber(endpoints.md, [s.encode() for s in runner.symbols]), "md", (MarketEvent,),
            lambda event: send(runner.on_market(event)))
    # Open orders and positions come from every report, in seq order, once (gaps re-asked of the adapter);
    # at start the history is replayed from the adapter's journal, so a restarted runner has them back.
    stream = read_exec_stream(rt, on_execution, runner.on_usage, catch_up_from=1)
    rt.read(sockets.subscriber(endpoints.risk, [b"decision"]), "risk", (RiskDecision,), on_decision)
    in_force = {entry.id: entry for entry in entries}

    def apply_limits(new_limits: StrategyLimitsConfig) -> list[str]:
        """A reloaded strategy_limits.yaml (validated by control, fetched and validated again here)."""
        try:
            new_entries = hosted_entries(new_limits, os.environ)
        except UnknownStrategies as error:
            return [f"not applied: {error}"]
        return apply_entries(runner, in_force, new_entries, operator_enabled)

    follow_control(rt, on_state, on_command).hot.follow(STRATEGY_LIMITS, stack.strategy_limits_file,
                                                        StrategyLimitsConfig, limits_read, apply_limits)
    rt.log.info("strategies_loaded", strategies=sorted(runner.hosted), symbols=runner.symbols)
    return rt.run()
