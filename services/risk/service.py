"""The risk service: intents in from strategies, approved orders out to the adapter, rejects back."""

from __future__ import annotations

import msgspec
import zmq
from prometheus_client import Counter

from contracts.codec import encode
from contracts.enums import Reason, ServiceName
from contracts.messages import ExecutionReport, OrderIntent, RiskDecision, RiskSnapshot, StormGuardState
from services.risk.engine import RiskEngine
from services.risk.positions import PositionBook
from services.runtime.config.instruments import load_instruments
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher

ORDER_TOPIC = b"order"


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.RISK, stack)
    limits = load_yaml_model(stack.strategy_limits_file, StrategyLimitsConfig)
    engine = RiskEngine(rt.clock, limits, load_instruments(stack.instruments_file))
    registry = rt.metrics.registry
    approved_total = Counter("risk_approved", "Intents approved", ["strategy"], registry=registry)
    approved_by_strategy = {entry.id: approved_total.labels(entry.id) for entry in limits.strategies}
    reject_total = Counter("risk_reject", "Intents rejected", ["strategy", "reason"], registry=registry)
    exec_reports_total = Counter("risk_exec_reports", "Execution reports seen", registry=registry)
    positions = PositionBook()

    orders_out = rt.sockets.order_sender(stack.endpoints.orders)
    risk_out = Publisher(rt.sockets.publisher(stack.endpoints.risk))

    def reject(decision: RiskDecision) -> None:
        risk_out.send(msgspec.structs.replace(decision, seq=risk_out.next_seq()))
        reject_total.labels(decision.strategy_id, decision.reason).inc()
        rt.log.info("intent_rejected", intent_id=decision.intent_id, strategy_id=decision.strategy_id,
                    reason=decision.reason, detail=decision.detail, stormguard_state=decision.stormguard_state)

    def on_intent(intent: OrderIntent) -> None:
        outcome = engine.evaluate(intent)
        if isinstance(outcome, RiskDecision):
            reject(outcome)
            return
        try:
            orders_out.send_multipart((ORDER_TOPIC, encode(outcome)), zmq.NOBLOCK)
        except zmq.Again:
            reject(engine.refused_downstream(outcome, Reason.QUEUE_BACKPRESSURE, "adapter not taking orders"))
            return
        approved = approved_by_strategy.get(intent.strategy_id)
        if approved is None:
            approved = approved_by_strategy[intent.strategy_id] = approved_total.labels(intent.strategy_id)
        approved.inc()
        # Approvals log at debug: at thousands a second an info line each costs more CPU than the check.
        rt.log.debug("intent_approved", intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                     reason=None, stormguard_state=outcome.stormguard_state)

    def on_execution(report: ExecutionReport) -> None:
        exec_reports_total.inc()
        positions.on_execution(report)

    def publish_snapshot() -> None:
        risk_out.send(RiskSnapshot(seq=risk_out.next_seq(), positions=positions.rows(), ts_ns=rt.clock.wall_ns()))

    sockets, endpoints = rt.sockets, stack.endpoints
    rt.read(sockets.order_receiver(endpoints.intents), "intents", (OrderIntent,), on_intent)
    rt.read(sockets.subscriber(endpoints.exec, [b"exec"]), "exec", (ExecutionReport,), on_execution)
    rt.read(sockets.subscriber(endpoints.control, [b"sg"]), "control", (StormGuardState,), engine.on_stormguard)
    rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, publish_snapshot)
    return rt.run()
