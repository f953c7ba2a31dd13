"""The risk service: intents in from strategies, approved orders out to the adapter, rejects back;
fills, broker usage and the book drive PnL and StormGuard, whose transitions go to control. Its desk
state (positions, PnL, peaks, levels) is saved to var/ and taken back by the next risk (state_keeper.py)."""

from __future__ import annotations

import zmq

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
from services.risk.metrics import RiskMetrics
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


class RiskService:
    """Risk's sockets wired to its engine and state keeper; `run()` serves until the process is stopped."""

    def __init__(self, rt: ServiceRuntime, stack: StackConfig) -> None:
        limits_read = read_versioned(stack.strategy_limits_file, StrategyLimitsConfig)
        limits = limits_read.model
        state_file = stack.risk.state_file
        self.rt = rt
        self.log = rt.log
        self.engine = RiskEngine(rt.clock, limits, load_instruments(stack.instruments_file), stack.risk.day_rollover)
        self.keeper = StateKeeper(self.engine, state_file if state_file.is_absolute() else stack.var_dir / state_file,
                                  rt.log)
        replay_from = self.keeper.start()
        self.limits: StrategyLimitsConfig = limits
        """The strategy limits file in force."""
        self.mark_interval_ms: int = limits.stormguard.mark_interval_ms
        """The mark timer's interval: set at start, a reload cannot change it."""
        # The strategies that asked for a RiskDecision on approval too (publish_approvals), per the file in force.
        self.approvals_to: frozenset[str] = approval_listeners(limits.strategies)
        self.day_announced: str = self.engine.trading_day
        """The trading day last announced: when the engine's differs, a day has just begun (on_day)."""
        self.operator_enabled: dict[str, bool] = {}
        """The operator's strategy switches, as control's last state applied said them."""
        # The feed repeats its refs every interval: a line only when what is said of a symbol changed.
        self.refs_said: dict[str, str] = {}
        self.attention = AttentionWatch(rt.clock)
        self.metrics = RiskMetrics(rt.metrics.registry, (entry.id for entry in limits.strategies))
        for scope, level in self.engine.stormguard.levels().items():
            self.metrics.stormguard_state.labels(scope).set(level.severity)
        for file_ref in list(self.engine.instruments.values()):
            self.warn_attention(file_ref)

        sockets, endpoints = rt.sockets, stack.endpoints
        self.orders_out = sockets.order_sender(endpoints.orders)
        rt.watch_peer(self.orders_out, "orders")
        self.risk_out = Publisher(sockets.publisher(endpoints.risk))
        rt.advertise("risk", self.risk_out.heads)
        # Books are read when an intent or the mark timer needs them, not on every tick (runtime/latest.py).
        self.books = rt.read_latest(sockets.subscriber(endpoints.md), "md", (MarketEvent, InstrumentRef), self.on_md)
        rt.read_batch(sockets.order_receiver(endpoints.intents), "intents", (OrderIntent,), self.on_intents,
                      on_undecodable=self.on_undecodable_intent)
        # Positions come from every report, in seq order, once: what the PUB drops is asked of the adapter again.
        # At start the reports after the saved state (all of them without one) are replayed from the journal.
        read_exec_stream(rt, self.on_execution, self.on_usage, catch_up_from=replay_from)
        # Control's state by the clone pattern: a snapshot at start, then broadcasts; a gap asks again.
        self.control = follow_control(rt, self.on_state, self.on_command)
        self.control.hot.follow(STRATEGY_LIMITS, stack.strategy_limits_file, StrategyLimitsConfig, limits_read,
                                self.apply_limits)
        self.control.hot.report(INSTRUMENTS, stack.instruments_file)
        rt.loop.every(self.mark_interval_ms * 1_000_000, self.mark_to_market)
        rt.loop.every(stack.heartbeat_interval_ms * 1_000_000, self.publish_snapshot)
        rt.loop.every(stack.risk.state_interval_ms * 1_000_000, self.save_state)

    def run(self) -> int:
        """Serve until stopped; the desk state is saved however the loop ends."""
        try:
            return self.rt.run()
        finally:
            self.keeper.save()

    def on_intents(self, intents: list[OrderIntent]) -> None:
        self.books.refresh()
        for outcome in self.engine.evaluate_batch(intents):
            if isinstance(outcome, RiskDecision):
                self.reject(outcome)
                continue
            if not self.send_order(outcome):
                self.reject(self.engine.refused_downstream(outcome, Reason.QUEUE_BACKPRESSURE,
                                                           "adapter not taking orders"))
                continue
            self.metrics.approved(outcome.strategy_id).inc()
            if outcome.strategy_id in self.approvals_to:  # off by default: one frozenset lookup per approval
                self.risk_out.send(approval_decision(outcome, self.rt.clock.wall_ns()))
            # Approvals log at debug: at thousands a second an info line each costs more CPU than the check.
            self.log.debug("intent_approved", intent_id=outcome.intent_id, strategy_id=outcome.strategy_id,
                           reason=None, stormguard_state=outcome.stormguard_state, qty=outcome.qty)

    def on_undecodable_intent(self, payload: bytes, error: str) -> None:
        decision = bad_intent_decision(payload, error, self.rt.clock.wall_ns())
        if decision is not None:
            self.reject(decision)

    def on_execution(self, report: ExecutionReport) -> None:
        self.metrics.exec_reports.inc()
        transitions = self.keeper.on_report(report)
        self.on_day(transitions + self.engine.on_execution(report))

    def on_usage(self, usage: AdapterUsage) -> None:
        self.on_transitions(self.keeper.on_usage(usage) + self.engine.on_usage(usage))

    def on_md(self, message: MarketEvent | InstrumentRef) -> None:
        if isinstance(message, MarketEvent):
            self.engine.on_market(message)
        else:
            self.on_reference(message)

    def on_reference(self, ref: InstrumentRef) -> None:
        outcome, detail = self.engine.on_reference(ref)
        self.metrics.instrument_refs.labels(outcome).inc()
        self.warn_attention(self.engine.instruments.get(ref.symbol))
        if self.refs_said.get(ref.symbol) == detail:
            return
        self.refs_said[ref.symbol] = detail
        if outcome in (RefOutcome.APPLIED, RefOutcome.UNCHANGED):
            self.log.info("instrument_reference", symbol=ref.symbol, outcome=str(outcome), reason=detail)
        else:
            self.log.warning("instrument_reference_ignored", symbol=ref.symbol, outcome=str(outcome), reason=detail)

    def on_state(self, state: StormGuardState, source: str) -> None:
        """Control's state (broadcast or snapshot): levels and hold fire, and the operator's strategy switches
        that changed since the last state applied."""
        self.engine.on_stormguard(state)
        for strategy_id, enabled in state.strategy_enabled.items():
            if self.operator_enabled.get(strategy_id) is enabled:
                continue
            self.operator_enabled[strategy_id] = enabled
            self.engine.set_enabled(strategy_id, enabled)
            verb = ControlVerb.ENABLE_STRATEGY if enabled else ControlVerb.DISABLE_STRATEGY
            self.log.warning("strategy_toggled", strategy_id=strategy_id, verb=verb, reason="operator", source=source,
                             intent_id=None, stormguard_state=self.engine.level_for(strategy_id))

    def on_command(self, message: ControlCommand) -> None:
        if message.verb == CommandVerb.STORMGUARD_RELEASE:
            self.log.warning("stormguard_release", scope=message.target, reason="operator release",
                             strategy_id=message.target, intent_id=None, stormguard_state=None)
            self.on_transitions(self.engine.release(message.target))
        elif message.verb == CommandVerb.DUMP_RISK and message.request_id:
            self.books.refresh()
            self.control.link.send(risk_dump(self.engine, self.limits, self.operator_enabled, message.request_id,
                                             self.rt.clock))

    def apply_limits(self, limits: StrategyLimitsConfig) -> list[str]:
        """A reloaded strategy_limits.yaml: the whole check chain swapped at once (positions, PnL, books and
        StormGuard levels carry over: RiskEngine.replace_limits)."""
        self.engine.replace_limits(limits)
        self.limits = limits
        self.approvals_to = approval_listeners(limits.strategies)
        self.metrics.add_strategies(entry.id for entry in limits.strategies)
        if limits.stormguard.mark_interval_ms != self.mark_interval_ms:
            return ["stormguard.mark_interval_ms: restart risk to apply"]
        return []

    def mark_to_market(self) -> None:
        self.books.refresh()
        for symbol in self.engine.expire_references():
            self.log.warning("instrument_reference_expired", symbol=symbol, outcome="expired",
                             reason="the broker's reference data is not for today: the instruments file's entry is "
                                    "back in force until today's arrives")
            self.metrics.instrument_refs.labels("expired").inc()
            self.refs_said.pop(symbol, None)
        self.on_day(self.engine.mark_to_market())

    def publish_snapshot(self) -> None:
        engine = self.engine
        self.risk_out.send(RiskSnapshot(seq=0, positions=engine.positions.rows(), levels=engine.stormguard.levels(),
                                        ts_ns=self.rt.clock.wall_ns(), trading_day=engine.trading_day))

    def save_state(self) -> None:
        self.keeper.save(durable=False)

    def send_order(self, command: OrderCommand) -> bool:
        try:
            send_topic(self.orders_out, ORDER_TOPIC, encode(command))
        except zmq.Again:
            return False
        return True

    def reject(self, decision: RiskDecision) -> None:
        self.risk_out.send(decision)
        self.metrics.reject(decision.strategy_id, decision.reason)
        self.log.info("intent_rejected", intent_id=decision.intent_id, strategy_id=decision.strategy_id,
                      reason=decision.reason, detail=decision.detail, stormguard_state=decision.stormguard_state)

    def on_day(self, transitions: list[Transition]) -> None:
        """Transitions, and the start of a trading day if the engine just began one: logged and saved at once
        (control alerts on the day in the next RiskSnapshot)."""
        self.on_transitions(transitions)
        engine = self.engine
        if engine.trading_day == self.day_announced:
            return
        previous, self.day_announced = self.day_announced, engine.trading_day
        if previous:
            self.log.warning("trading_day_started", trading_day=engine.trading_day, previous_day=previous,
                             positions=[[row.strategy_id, row.symbol, row.position]
                                        for row in engine.positions.rows() if row.position],
                             working_orders=len(engine.positions.working), levels=engine.stormguard.levels(),
                             reason="daily PnL, drawdown peaks, drawdown levels and order-rate windows start fresh; "
                                    "positions and working orders carry over",
                             strategy_id=None, intent_id=None, stormguard_state=engine.stormguard.level(GLOBAL_SCOPE))
            self.keeper.save()

    def on_transitions(self, transitions: list[Transition]) -> None:
        """Each transition: a proposal to control, a log line, metrics; entering HALT cancels the scope's orders."""
        for transition in transitions:
            self.risk_out.send(StormGuardProposal(seq=0, scope=transition.scope, level=transition.to_level,
                                                  reason=transition.reason, ts_ns=transition.ts_ns))
            self.metrics.stormguard_state.labels(transition.scope).set(transition.to_level.severity)
            self.metrics.transitions.labels(transition.scope, transition.to_level).inc()
            self.log.warning("stormguard_transition", scope=transition.scope, from_level=transition.from_level,
                             stormguard_state=transition.to_level, reason=transition.reason,
                             strategy_id=transition.scope, intent_id=None)
            if transition.to_level is StormGuardLevel.HALT:
                cancels = self.engine.cancels_for(transition.scope)
                sent = sum(self.send_order(cancel) for cancel in cancels)
                self.metrics.halt_cancels.inc(sent)
                self.log.warning("halt_cancel_all", scope=transition.scope, orders=len(cancels), sent=sent,
                                 stormguard_state=StormGuardLevel.HALT, reason="stormguard_halt")

    def warn_attention(self, ref: InstrumentRef | None) -> None:
        warning = self.attention.observe(ref) if ref is not None else None
        if ref is not None and warning is not None:
            self.log.warning("instrument_attention", symbol=ref.symbol, reason=warning)


def main(stack: StackConfig) -> int:
    return RiskService(ServiceRuntime(ServiceName.RISK, stack), stack).run()
