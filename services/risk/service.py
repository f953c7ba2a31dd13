"""The risk service: intents in from strategies, approved orders out to the adapter, rejects back;
fills, broker usage and the book drive PnL and StormGuard, whose transitions go to control. Its desk
state (positions, PnL, peaks, levels) is saved to var/ and taken back by the next risk (state_keeper.py)."""

from __future__ import annotations

import zmq
from prometheus_client import Counter, Gauge

from contracts.codec import encode
from contracts.enums import CommandVerb, ControlVerb, Reason, ServiceName, StormGuardLevel
from contracts.messages import (
    GLOBAL_SCOPE,
    AdapterUsage,
    ControlCommand,
    ExecutionReport,
    InstrumentRef,
    MarketEvent,
    OrderCommand,
    OrderIntent,
    RiskDecision,
    RiskSnapshot,
    StormGuardProposal,
    StormGuardState,
)
from services.risk.dump import risk_dump
from services.risk.engine import RiskEngine
from services.risk.reference_data import RefOutcome
from services.risk.refusals import approval_decision, approval_listeners, bad_intent_decision
from services.risk.state_keeper import StateKeeper
from services.risk.stormguard import Transition
from services.risk.validators.attention import AttentionWatch
from services.runtime.config.instruments import load_instruments
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.control_link import follow_control
from services.runtime.exec_stream import read_exec_stream
from services.runtime.hot_config import INSTRUMENTS, STRATEGY_LIMITS, read_versioned
from services.runtime.service import ServiceRuntime
from services.runtime.sockets import Publisher, send_topic

ORDER_TOPIC = b"order"


def main(stack: StackConfig) -> int:
    rt = ServiceRuntime(ServiceName.RISK, stack)
    limits_read = read_versioned(stack.strategy_limits_file, StrategyLimitsConfig)
    limits = limits_read.model
    engine = RiskEngine(rt.clock, limits, load_instruments(stack.instruments_file), stack.risk.day_rollover)
    state_file = stack.risk.state_file
    keeper = StateKeeper(engine, state_file if state_file.is_absolute() else stack.var_dir / state_file, rt.log)
    replay_from = keeper.start()
    registry = rt.metrics.registry
    approved_total = Counter("risk_approved", "Intents approved", ["strategy"], registry=registry)
    approved_by_strategy = {entry.id: approved_total.labels(entry.id) for entry in limits.strategies}
    approved_unknown = approved_total.labels("unknown")
    reject_total = Counter("risk_reject", "Intents rejected", ["strategy", "reason"], registry=registry)
    exec_reports_total = Counter("risk_exec_reports", "Execution reports seen", registry=registry)
    stormguard_state = Gauge("stormguard_state", "Risk's own StormGuard level (0 NORMAL .. 3 HALT)", ["scope"],
                             registry=registry)
    transitions_total = Counter("stormguard_transitions", "StormGuard transitions", ["scope", "to"],
                                registry=registry)
    halt_cancels_total = Counter("halt_cancels", "Cancels sent because a scope entered HALT", registry=registry)
    for scope, level in engine.stormguard.levels().items():
        stormguard_state.labels(scope).set(level.severity)

    orders_out = rt.sockets.order_sender(stack.endpoints.orders)
    rt.watch_peer(orders_out, "orders")
    risk_out = Publisher(rt.sockets.publisher(stack.endpoints.risk))
    rt.advertise("risk", risk_out.heads)

    def send_order(command: OrderCommand) -> bool:
        try:
            send_topic(orders_out, ORDER_TOPIC, encode(command))
        except zmq.Again:
            return False
        return True

    # The strategies that asked for a RiskDecision on approval too (publish_approvals), per the file in force.
    approvals_to = [approval_listeners(limits.strategies)]

    def reject(decision: RiskDecision) -> None:
        risk_out.send(decision)
        strategy_label = decision.strategy_id if decision.strategy_id in approved_by_strategy else "unknown"
        reject_total.labels(strategy_label, decision.reason).inc()
        rt.log.info("intent_rejected", intent_id=decision.intent_id, strategy_id=decision.strategy_id,
                    reason=decision.reason, detail=decision.detail, stormguard_state=decision.stormguard_state)

    def on_transitions(transitions: list[Transition]) -> None:
        """Each transition: a proposal to control, a log line, metrics; entering HALT cancels the scope's orders."""
        for transition in transitions:
            risk_out.send(StormGuardProposal(seq=0, scope=transition.scope,
                                             level=transition.to_level, reason=transition.reason,
                                             ts_ns=transition.ts_ns))
            stormguard_state.labels(transition.scope).set(transition.to_level.severity)
            transitions_total.labels(transition.scope, transition.to_level).inc()
            rt.log.warning("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                           stormguard_state=transition.to_level, reason=transition.reason,
                           strategy_id=transition.scope, intent_id=None)
            if transition.to_level is StormGuardLevel.HALT:
                cancels = engine.cancels_for(transition.scope)
                sent = sum(send_order(cancel) for cancel in cancels)
                halt_cancels_total.inc(sent)
                rt.log.warning("halt_cancel_all", scope=transition.scope, orders=len(cancels), sent=sent,
                               stormguard_state=StormGuardLevel.HALT, reason="stormguard_halt")

    def on_intents(intents: list[OrderIntent]) -> None:
        books.refresh()
        for outcome in engine.evaluate_batch(intents):
            if isinstance(outcome, RiskDecision):
                reject(outcome)
                continue
            if not send_order(outcome):
                reject(engine.refused_downstream(outcome, Reason.QUEUE_BACKPRESSURE, "adapter not taking orders"))
                continue
            # Cancels pass for any strategy id: count unknown ones under one label, so the wire cannot grow it.
            approved_by_strategy.get(outcome.strategy_id, approved_unknown).inc()
            if outcome.strategy_id in approvals_to[0]:  # off by default: one frozenset lookup per approval
                risk_out.send(approval_decision(outcome, rt.clock.wall_ns()))
            # Approvals log at debug: at thousands a second an info line each costs more CPU than the check.
            rt.log.debug("intent_approved", intent_id=outcome.intent_id, strategy_id=outcome.strategy_id,
                         reason=None, stormguard_state=outcome.stormguard_state, qty=outcome.qty)

    day_announced = [engine.trading_day]

    def on_day(transitions: list[Transition]) -> None:
        """Transitions, and the start of a trading day if the engine just began one: logged and saved at once
        (control alerts on the day in the next RiskSnapshot)."""
        on_transitions(transitions)
        if engine.trading_day == day_announced[0]:
            return
        previous, day_announced[0] = day_announced[0], engine.trading_day
        if previous:
            rt.log.warning("trading_day_started", trading_day=engine.trading_day, previous_day=previous,
                           positions=[[row.strategy_id, row.symbol, row.position] for row in engine.positions.rows()
                                      if row.position],
                           working_orders=len(engine.positions.working), levels=engine.stormguard.levels(),
                           reason="daily PnL, drawdown peaks, drawdown levels and order-rate windows start fresh; "
                                  "positions and working orders carry over",
                           strategy_id=None, intent_id=None, stormguard_state=engine.stormguard.level(GLOBAL_SCOPE))
            keeper.save()

    def on_execution(report: ExecutionReport) -> None:
        exec_reports_total.inc()
        transitions = keeper.on_report(report)
        on_day(transitions + engine.on_execution(report))

    def on_usage(usage: AdapterUsage) -> None:
        on_transitions(keeper.on_usage(usage) + engine.on_usage(usage))

    operator_enabled: dict[str, bool] = {}

    def on_state(state: StormGuardState, source: str) -> None:
        """Control's state (broadcast or snapshot): levels and hold fire, and the operator's strategy switches
        that changed since the last state applied."""
        engine.on_stormguard(state)
        for strategy_id, enabled in state.strategy_enabled.items():
            if operator_enabled.get(strategy_id) is enabled:
                continue
            operator_enabled[strategy_id] = enabled
            engine.set_enabled(strategy_id, enabled)
            verb = ControlVerb.ENABLE_STRATEGY if enabled else ControlVerb.DISABLE_STRATEGY
            rt.log.warning("strategy_toggled", strategy_id=strategy_id, verb=verb, reason="operator", source=source,
                           intent_id=None, stormguard_state=engine.level_for(strategy_id))

    def on_command(message: ControlCommand) -> None:
        if message.verb == CommandVerb.STORMGUARD_RELEASE:
            rt.log.warning("stormguard_release", scope=message.target, reason="operator release",
                           strategy_id=message.target, intent_id=None, stormguard_state=None)
            on_transitions(engine.release(message.target))
        elif message.verb == CommandVerb.DUMP_RISK and message.request_id:
            books.refresh()
            control.link.send(risk_dump(engine, in_force[0], operator_enabled, message.request_id, rt.clock))

    def publish_snapshot() -> None:
        risk_out.send(RiskSnapshot(seq=0, positions=engine.positions.rows(), levels=engine.stormguard.levels(),
                                   ts_ns=rt.clock.wall_ns(), trading_day=engine.trading_day))

    sockets, endpoints = rt.sockets, stack.endpoints
    # Books are read when an intent or the mark timer needs them, not on every tick (runtime/latest.py).
    reference_data = Counter("instrument_refs", "Broker reference data received for a symbol", ["outcome"],
                             registry=registry)

    last_said: dict[str, str] = {}  # the feed repeats its refs every interval: a line only when something changed
    attention = AttentionWatch(rt.clock)

    def warn_attention(ref: InstrumentRef | None) -> None:
        warning = attention.observe(ref) if ref is not None else None
        if ref is not None and warning is not None:
            rt.log.warning("instrument_attention", symbol=ref.symbol, reason=warning)

    for file_ref in list(engine.instruments.values()):
        warn_attention(file_ref)

    def on_reference(ref: InstrumentRef) -> None:
        outcome, detail = engine.on_reference(ref)
        reference_data.labels(outcome).inc()
        warn_attention(engine.instruments.get(ref.symbol))
        if last_said.get(ref.symbol) == detail:
            return
        last_said[ref.symbol] = detail
        if outcome in (RefOutcome.APPLIED, RefOutcome.UNCHANGED):
            rt.log.info("instrument_reference", symbol=ref.symbol, outcome=str(outcome), reason=detail)
        else:
            rt.log.warning("instrument_reference_ignored", symbol=ref.symbol, outcome=str(outcome), reason=detail)

    def on_md(message: MarketEvent | InstrumentRef) -> None:
        if isinstance(message, MarketEvent):
            engine.on_market(message)
        else:
            on_reference(message)

    books = rt.read_latest(sockets.subscriber(endpoints.md), "md", (MarketEvent, InstrumentRef), on_md)
    def on_undecodable_intent(payload: bytes, error: str) -> None:
        decision = bad_intent_decision(payload, error, rt.clock.wall_ns())
        if decision is not None:
            reject(decision)

    rt.read_batch(sockets.order_receiver(endpoints.intents), "intents", (OrderIntent,), on_intents,
                  on_undecodable=on_undecodable_intent)
    # Positions come from every report, in seq order, once: what the PUB drops is asked of the adapter again.
    # At start the reports after the saved state (all of them without one) are replayed from the journal.
    read_exec_stream(rt, on_execution, on_usage, catch_up_from=replay_from)
    in_force = [limits]

    def apply_limits(new_limits: StrategyLimitsConfig) -> list[str]:
        """A reloaded strategy_limits.yaml: the whole check chain swapped at once (positions, PnL, books and
        StormGuard levels carry over: RiskEngine.replace_limits)."""
        engine.replace_limits(new_limits)
        in_force[0] = new_limits
        approvals_to[0] = approval_listeners(new_limits.strategies)
        for entry in new_limits.strategies:
            approved_by_strategy.setdefault(entry.id, approved_total.labels(entry.id))
        if new_limits.stormguard.mark_interval_ms != limits.stormguard.mark_interval_ms:
            return ["stormguard.mark_interval_ms: restart risk to apply"]
        return []

    # Control's state by the clone pattern: a snapshot at start, then broadcasts; a gap asks again.
    control = follow_control(rt, on_state, on_command)
    hot = control.hot
    hot.follow(STRATEGY_LIMITS, stack.strategy_limits_file, StrategyLimitsConfig, limits_read, apply_limits)
    hot.report(INSTRUMENTS, stack.instruments_file)
    def mark_to_market() -> None:
        books.refresh()
        for symbol in engine.expire_references():
            rt.log.warning("instrument_reference_expired", symbol=symbol, outcome="expired",
                           reason="the broker's reference data is not for today: the instruments file's entry is "
                                  "back in force until today's arrives")
            reference_data.labels("expired").inc()
            last_said.pop(symbol, None)
        on_day(engine.mark_to_market())

    rt.loop.every(limits.stormguard.mark_interval_ms * 1_000_000, mark_to_market)
    rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, publish_snapshot)
    rt.loop.every(stack.risk.state_interval_ms * 1_000_000, lambda: keeper.save(durable=False))
    try:
        return rt.run()
    finally:
        keeper.save()
