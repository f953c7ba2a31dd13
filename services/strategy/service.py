"""The strategy service: market data in, intents out to risk; fills, rejects and StormGuard state back in."""

from __future__ import annotations

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
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.service import ServiceRuntime
from services.strategy.loader import load_strategy
from services.strategy.runner import RunnerMetrics, StrategyRunner

INTENT_TOPIC = b"intent"


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.STRATEGY, stack)
    limits = load_yaml_model(stack.strategy_limits_file, StrategyLimitsConfig)
    runner = StrategyRunner(rt.clock, RunnerMetrics(rt.metrics.registry), rt.log,
                            epoch=format(rt.clock.wall_ns() // 1_000_000, "x"))
    for entry in limits.strategies:
        runner.add(load_strategy(entry), budget_us=entry.budget_us, intent_ttl_ms=entry.intent_ttl_ms,
                   enabled=entry.enabled)

    intents_out = rt.sockets.order_sender(stack.endpoints.intents)

    def send(intents: list[OrderIntent]) -> None:
        for intent in intents:
            try:
                intents_out.send_multipart((INTENT_TOPIC, encode(intent)), zmq.NOBLOCK)
            except zmq.Again:
                decision = runner.dropped(intent, Reason.QUEUE_BACKPRESSURE)
                rt.log.warning("intent_dropped", intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                               reason=Reason.QUEUE_BACKPRESSURE, stormguard_state=runner.global_level)
                send(runner.on_reject(decision))

    md = rt.sockets.subscriber(stack.endpoints.md, [s.encode() for s in runner.symbols])
    md_inbox = rt.inbox("md", MarketEvent)

    def on_market(frames: list[bytes]) -> None:
        event = md_inbox.decode(frames)
        if event is not None:
            send(runner.on_market(event))

    rt.loop.add_reader(md, on_market)

    exec_sub = rt.sockets.subscriber(stack.endpoints.exec, [b"exec"])
    exec_inbox = rt.inbox("exec", ExecutionReport)

    def on_execution(frames: list[bytes]) -> None:
        report = exec_inbox.decode(frames)
        if report is not None:
            send(runner.on_execution(report))

    rt.loop.add_reader(exec_sub, on_execution)

    risk_sub = rt.sockets.subscriber(stack.endpoints.risk, [b"decision"])
    risk_inbox = rt.inbox("risk", RiskDecision)

    def on_decision(frames: list[bytes]) -> None:
        decision = risk_inbox.decode(frames)
        if decision is not None and not decision.approved:
            send(runner.on_reject(decision))

    rt.loop.add_reader(risk_sub, on_decision)

    control_sub = rt.sockets.subscriber(stack.endpoints.control, [b"sg", b"command"])
    control_inbox = rt.inbox("control", StormGuardState, ControlCommand)

    def on_control(frames: list[bytes]) -> None:
        message = control_inbox.decode(frames)
        if isinstance(message, StormGuardState):
            runner.on_stormguard(message)
        elif (isinstance(message, ControlCommand) and message.target in runner.hosted
              and message.verb in ("enable_strategy", "disable_strategy")):
            runner.set_enabled(message.target, message.verb == "enable_strategy")
            rt.log.info("strategy_toggled", strategy_id=message.target, verb=message.verb)

    rt.loop.add_reader(control_sub, on_control)
    rt.log.info("strategies_loaded", strategies=sorted(runner.hosted), symbols=runner.symbols)
    return rt.run()
