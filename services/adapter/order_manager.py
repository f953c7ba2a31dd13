"""OrderManager: approved OrderCommands into broker calls; the adapter's one owner of its orders.

Plain synchronous code on the adapter's loop thread, with every outside effect injected: a Clock
and a Scheduler, the Broker, the Journal, the ReportWriter, the config, metrics and log. It holds
the live order map, the rate limiter, the circuit breaker and the gate, and takes NEWs, cancels
and status queries itself; AMENDs go to the AmendCoalescer (amends.py), broker answers to
BrokerAnswers (broker_answers.py), failed and timed-out calls to CallFailures (call_failures.py).
An order's states move only through lifecycle.py's tables.

Each entry point (a batch of commands, a broker event, a status answer, a timer) ends in `flush`:
the journal commits what the handler recorded — the commands about to be sent, the orders'
new state, the reports — then the pending broker calls are made, then the reports are published.
So a command is durable before the broker sees it, and a report before anybody does.

Semantics a desk relies on are in docs/adapter.md: coalescing, timeouts and unknown outcomes, the
breaker, the kill switch (a global HALT or the operator's cancel-all closes the gate to NEWs and
cancels every working order until none is; hold fire closes the gate only), and the stop (every
command it will not send is answered; orders at the broker stay tracked, a wanted cancel too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import structlog

from contracts.codec import encode
from contracts.enums import (
    BrokerAction,
    CommandVerb,
    ExecType,
    GateReason,
    IntentAction,
    OrderStatus,
    Reason,
    StormGuardLevel,
    stricter,
)
from contracts.messages import ControlCommand, OrderCommand, StormGuardState
from services.adapter.amends import AmendCoalescer
from services.adapter.broker_answers import BrokerAnswers
from services.adapter.broker_calls import BrokerCalls, CallKind, PendingCall, WaitingWork
from services.adapter.brokers.base import Broker, BrokerError, BrokerEvent, BrokerOrderState, BrokerOutcomeUnknown
from services.adapter.call_failures import CallFailures
from services.adapter.circuit_breaker import BreakerState, CircuitBreaker
from services.adapter.journal import Journal
from services.adapter.lifecycle import CancelStage, Submission, move_cancel, move_status, move_submission
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_map import AmendState, LiveOrder, OrderMap, encode_order
from services.adapter.order_reports import OrderReports
from services.adapter.rate_limiter import Grant, Priority, RateLimiter
from services.adapter.reports import ReportWriter
from services.adapter.timers import Timers
from services.runtime.clock import Clock, Scheduler
from services.runtime.config.order_adapter import OrderAdapterConfig

_GATE_REASON = {GateReason.HALT: Reason.STORMGUARD_HALT, GateReason.OPERATOR: Reason.STORMGUARD_HALT,
                GateReason.HOLD_FIRE: Reason.HOLD_FIRE}
_CANCELS_ALL = frozenset({GateReason.HALT, GateReason.OPERATOR})

_command_encoder = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class StopAnswers:
    """What `OrderManager.stop` answered: NEWs never sent (rejected, or cancelled when a cancel had come for
    them), amends never sent, commands never read (refused), and the orders left at the broker, still
    tracked in the journal."""

    news_answered: int
    amends_rejected: int
    unread_refused: int
    at_broker: int


class OrderManager:
    def __init__(
        self,
        clock: Clock,
        scheduler: Scheduler,
        broker: Broker,
        journal: Journal,
        reports: ReportWriter,
        config: OrderAdapterConfig,
        metrics: AdapterMetrics,
        log: structlog.stdlib.BoundLogger,
        on_usage_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.timers = Timers(scheduler)
        self.broker = broker
        self.journal = journal
        self.config = config
        self.metrics = metrics
        self.log = log
        self.on_usage_change = on_usage_change
        self.orders = OrderMap()
        self.limiter = RateLimiter(clock, config.soft_cap, config.reserve,
                                   (10_000 + config.window_guard_ms) * 1_000_000)
        self.breaker = CircuitBreaker(clock, config.breaker.failures, config.breaker.window_ms * 1_000_000,
                                      config.breaker.cooldown_ms * 1_000_000)
        self.stormguard_level = StormGuardLevel.NORMAL
        self.strategy_levels: dict[str, StormGuardLevel] = {}
        self.gate: set[GateReason] = set()
        self.reports = OrderReports(clock, reports, self.orders, metrics, log, self._level_of)
        timeouts = config.timeouts
        self.failures = CallFailures(self)
        self.calls = BrokerCalls(
            clock, self.timers, self.limiter,
            {CallKind.PLACE: timeouts.new_ms * 1_000_000, CallKind.AMEND: timeouts.amend_ms * 1_000_000,
             CallKind.CANCEL: timeouts.cancel_ms * 1_000_000, CallKind.QUERY: timeouts.query_ms * 1_000_000},
            self._run_waiting, self.failures.timed_out, self.flush,
        )
        self.amends = AmendCoalescer(clock, self.timers, self.calls, self.orders, self.reports, metrics,
                                     int(config.coalesce_window_ms * 1_000_000), self)
        self.answers = BrokerAnswers(self)
        self.slow_down_at = int(config.soft_cap * config.slow_down_at)
        self._outbox: list[PendingCall] = []
        self._received_ns = 0  # when the batch in hand was read (0 between batches): its own share starts
        self._slowing = False
        self.probe_id: str | None = None  # the NEW let through while the breaker was half open
        broker.set_event_callback(self.on_broker_event)
        broker.set_status_callback(self.on_status)

    # -- entry points: each ends in flush

    def on_command(self, command: OrderCommand) -> None:
        self.on_commands([command])

    def on_commands(self, commands: list[OrderCommand]) -> None:
        self._received_ns = self.clock.mono_ns()
        for command in commands:
            self._command(command)
        self.flush()
        self._received_ns = 0

    def on_broker_event(self, event: BrokerEvent) -> None:
        self.answers.event(event)
        self.flush()

    def on_status(self, state: BrokerOrderState) -> None:
        self.answers.status(state)
        self.flush()

    def on_control(self, message: StormGuardState | ControlCommand) -> None:
        if isinstance(message, StormGuardState):
            self.stormguard_level = message.global_level
            self.strategy_levels = message.strategy_levels
            self._set_gate(GateReason.HALT, message.global_level is StormGuardLevel.HALT)
            self._set_gate(GateReason.HOLD_FIRE, message.hold_fire)
        elif message.verb == CommandVerb.CANCEL_ALL:
            self._set_gate(GateReason.OPERATOR, True)
        elif message.verb == CommandVerb.RESUME:
            self._set_gate(GateReason.OPERATOR, False)
        self.flush()

    def sweep(self) -> None:
        """Every second: keep the kill switch's promise, and settle what nobody answered."""
        cancelling = self.kill_switch_on() or self.breaker.state is BreakerState.OPEN
        for order in list(self.orders.live.values()):
            if cancelling and order.working and order.cancel is not CancelStage.PENDING:
                self.cancel(order, order.last_intent_id or order.intent_id)
            if self._needs_query(order):
                self.query(order)
        self.flush()

    def stop(self, unread: list[OrderCommand]) -> StopAnswers:
        """The adapter is stopping: answer what it will not send, journaled and ready to publish once this
        returns. `unread`: commands drained from the orders socket after the loop stopped, each refused."""
        detail = "the adapter stopped before sending it"
        news = amends = 0
        for order in list(self.orders.live.values()):
            if order.submission is Submission.QUEUED and order.status is OrderStatus.PENDING_NEW:
                news += 1
                if order.cancel is not CancelStage.NONE:
                    move_status(order, OrderStatus.CANCELLED)
                    self.reports.order(order, ExecType.CANCELLED, detail="cancelled before it reached the broker")
                else:
                    move_status(order, OrderStatus.REJECTED)
                    self.metrics.refused.labels(Reason.SHUTTING_DOWN).inc()
                    self.reports.order(order, ExecType.REJECT, reason=Reason.SHUTTING_DOWN, detail=detail)
                self.close(order)
            elif self.amends.refuse_unsent_at_stop(order):
                amends += 1
                self.metrics.refused.labels(Reason.SHUTTING_DOWN).inc()
                self.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.SHUTTING_DOWN, detail=detail)
                self.save(order)
        for command in unread:
            self.reports.refuse(command, Reason.SHUTTING_DOWN, "arrived while the adapter was stopping: not sent")
        self.calls.drop_waiting()
        self.flush()
        return StopAnswers(news, amends, len(unread), len(self.orders.live))

    def kill_switch_on(self) -> bool:
        """A global HALT or the operator's cancel-all: every working order must go."""
        return bool(self.gate & _CANCELS_ALL)

    def _needs_query(self, order: LiveOrder) -> bool:
        """Only the broker can say what became of it: a NEW that timed out, a cancel still wanted, a
        quantity cut never answered. Not while a cancel is on its way or queued, nor while the NEW has
        not left (queued, or in flight: a query could find it missing before it arrives)."""
        if order.submission is Submission.QUEUED or order.cancel in (CancelStage.PENDING, CancelStage.WAITING):
            return False
        client_order_id = order.client_order_id
        if self.calls.in_flight(client_order_id, CallKind.PLACE):
            return False
        return order.submission is Submission.UNRESOLVED or order.cancel is CancelStage.WANTED or (
            order.amend.cut_to_leaves is not None and not self.calls.in_flight(client_order_id, CallKind.AMEND))

    # -- commands

    def _command(self, command: OrderCommand) -> None:
        if command.action is not IntentAction.CANCEL and self.clock.mono_ns() > command.deadline_ns:
            self.reports.refuse(command, Reason.STALE_INTENT, "arrived past its deadline")
            return
        if command.action is IntentAction.NEW:
            self._new(command)
            return
        order = self.orders.get(command.client_order_id)
        if order is None and self.orders.known(command.client_order_id):
            self.reports.refuse(command, Reason.TOO_LATE, "order already filled, cancelled or rejected")
        elif order is None or order.submission is Submission.UNRESOLVED:
            self.reports.refuse(command, Reason.UNKNOWN_ORDER, "no live order with this id")
        elif order.strategy_id != command.strategy_id:
            self.reports.refuse(command, Reason.UNKNOWN_ORDER,
                                f"order {order.client_order_id} is not {command.strategy_id}'s")
        elif command.action is IntentAction.AMEND:
            self.metrics.amend_intents.inc()
            if order.cancel is not CancelStage.NONE:
                self.reports.refuse(command, Reason.TOO_LATE, "order is being cancelled")
            else:
                self.amends.amend(order, command)
        elif order.cancel is not CancelStage.NONE:
            self.metrics.duplicate_cancels.inc()
        else:
            self.cancel(order, command.intent_id, ingest_ns=command.ingest_ts_ns)

    def _new(self, command: OrderCommand) -> None:
        if self.orders.known(command.client_order_id):
            self.reports.refuse(command, Reason.DUPLICATE_INTENT, "client order id already used")
            return
        if self.gate:
            reason = next(iter(self.gate))
            self.reports.refuse(command, _GATE_REASON[reason], f"the adapter's gate is closed ({reason})")
            return
        if not self.breaker.allow_new():
            self.reports.refuse(command, Reason.CIRCUIT_OPEN, f"circuit breaker open: {self.breaker.reason}")
            return
        if self.breaker.state is BreakerState.HALF_OPEN:
            self.probe_id = command.client_order_id
        now_ns = self.clock.wall_ns()
        order = LiveOrder(
            client_order_id=command.client_order_id, intent_id=command.intent_id,
            strategy_id=command.strategy_id, symbol=command.symbol, side=command.side, qty=command.qty,
            broker_price_e4=command.price_e4, price_type=command.price_type, tif=command.tif,
            last_intent_id=command.intent_id, created_ns=now_ns, updated_ns=now_ns,
            amend=AmendState(asked_price_e4=command.price_e4, sent_price_e4=command.price_e4),
        )
        self.orders.add(order)
        self._place(order, command)

    def _place(self, order: LiveOrder, command: OrderCommand) -> None:
        if order.cancel is not CancelStage.NONE:
            move_status(order, OrderStatus.CANCELLED)
            self.reports.order(order, ExecType.CANCELLED, detail="cancelled before it reached the broker")
            self.close(order)
            return
        grant = self.calls.acquire(Priority.NORMAL)
        if grant is None:
            self.save(order)
            self.calls.wait(Priority.NORMAL, WaitingWork(CallKind.PLACE, order, command=command))
            return
        move_submission(order, Submission.SENT)
        self.save(order)
        self.send(PendingCall(BrokerAction.PLACE, order, grant, command, ingest_ns=command.ingest_ts_ns))

    def _place_waited(self, order: LiveOrder, command: OrderCommand) -> None:
        """A NEW that waited for the budget: the world may have changed while it waited."""
        if order.cancel is not CancelStage.NONE:
            self._place(order, command)
            return
        if self.clock.mono_ns() > command.deadline_ns:
            reason, detail = Reason.RATE_LIMITED, "waited for the broker's order budget past its deadline"
        elif self.gate:
            gate = next(iter(self.gate))
            reason, detail = _GATE_REASON[gate], f"the adapter's gate closed while it waited ({gate})"
        elif self.breaker.state is BreakerState.OPEN:
            reason, detail = Reason.CIRCUIT_OPEN, f"circuit breaker opened while it waited: {self.breaker.reason}"
        else:
            self._place(order, command)
            return
        self.metrics.refused.labels(reason).inc()
        move_status(order, OrderStatus.REJECTED)
        self.reports.order(order, ExecType.REJECT, reason=reason, detail=detail)
        self.close(order)

    def cancel(self, order: LiveOrder, intent_id: str, ingest_ns: int = 0) -> None:
        """Cancel now if the budget allows (cancels go first), else as soon as it does; before the NEW's
        ack, once it arrives (or, for a NEW still queued, instead of sending it). `ingest_ns`: the market
        event time of the CANCEL being handled, for tick-to-trade when it goes out in the same turn."""
        self.amends.supersede(order)
        order.last_intent_id = intent_id
        if order.cancel in (CancelStage.PENDING, CancelStage.WAITING):
            return  # one cancel at the broker at a time
        move_cancel(order, CancelStage.WANTED)
        if order.submission is Submission.QUEUED or order.status is OrderStatus.PENDING_NEW:
            self.save(order)
            return
        grant = self.calls.acquire(Priority.URGENT)
        if grant is None:
            move_cancel(order, CancelStage.WAITING)
            self.save(order)
            self.calls.wait(Priority.URGENT, WaitingWork(CallKind.CANCEL, order))
            return
        self.send_cancel(order, grant, ingest_ns=ingest_ns)

    def _cancel_waited(self, order: LiveOrder) -> None:
        """A cancel that waited for the budget: the order may have finished meanwhile."""
        if order.cancel is CancelStage.WAITING:
            move_cancel(order, CancelStage.WANTED)
        if order.client_order_id not in self.orders.live or not order.working:
            self.metrics.refused.labels(Reason.TOO_LATE).inc()
            self.reports.order(order, ExecType.CANCEL_REJECT, reason=Reason.TOO_LATE,
                               detail=f"order {order.status} while the cancel waited for the order budget")
        else:
            self.cancel(order, order.last_intent_id)

    def send_cancel(self, order: LiveOrder, grant: Grant, attempt: int = 1, ingest_ns: int = 0) -> None:
        """Cancel at the broker, the budget slot just granted."""
        move_cancel(order, CancelStage.PENDING)
        self.save(order)
        self.send(PendingCall(BrokerAction.CANCEL, order, grant, attempt=attempt, ingest_ns=ingest_ns))

    def query(self, order: LiveOrder, attempt: int = 1) -> None:
        """Ask the broker what became of the order: now, or as soon as the budget allows, never
        dropped; nothing if a query of it is already on its way or queued."""
        client_order_id = order.client_order_id
        if self.calls.is_waiting(client_order_id, CallKind.QUERY) or self.calls.in_flight(client_order_id,
                                                                                          CallKind.QUERY):
            return
        priority = Priority.URGENT if self.kill_switch_on() else Priority.NORMAL
        grant = self.calls.acquire(priority)
        if grant is None:
            self.save(order)
            self.calls.wait(priority, WaitingWork(CallKind.QUERY, order, attempt))
            return
        self.send(PendingCall(BrokerAction.QUERY, order, grant, attempt=attempt))

    def _run_waiting(self, work: WaitingWork) -> None:
        """Work whose turn for the budget came decides now what it sends, if anything."""
        order = work.order
        if work.kind is CallKind.PLACE:
            assert work.command is not None
            self._place_waited(order, work.command)
        elif work.kind is CallKind.AMEND:
            self.amends.run_waiting(work)
        elif work.kind is CallKind.CANCEL:
            self._cancel_waited(order)
        elif order.client_order_id in self.orders.live:
            self.query(order, work.attempt)

    def cancel_all(self, why: str) -> None:
        """Phase two of the kill switch: cancel every working order (the sweep keeps at it)."""
        working = [order for order in self.orders.live.values()
                   if order.working and order.cancel is not CancelStage.PENDING]
        self.metrics.cancel_all.inc()
        self.log.warning("cancel_all", reason=why, orders=len(working), stormguard_state=self.stormguard_level)
        for order in working:
            self.cancel(order, order.last_intent_id or order.intent_id)

    def _set_gate(self, reason: GateReason, closed: bool) -> None:
        if closed == (reason in self.gate):
            return
        if closed:
            self.gate.add(reason)
        else:
            self.gate.discard(reason)
        self.metrics.gate_closed.set(1 if self.gate else 0)
        self.log.warning("gate_closed" if closed else "gate_opened", reason=reason,
                         stormguard_state=self.stormguard_level)
        if closed and reason in _CANCELS_ALL:
            self.cancel_all(reason)

    # -- broker calls: journaled at once, made at the flush

    def send(self, call: PendingCall) -> None:
        """Journal a broker call; it is made once the journal has committed."""
        order, action = call.order, call.action
        if action is BrokerAction.PLACE:
            assert isinstance(call.argument, OrderCommand)
            payload = encode(call.argument)
        elif action is BrokerAction.CANCEL:
            payload = order.last_intent_id.encode()
        elif action is BrokerAction.QUERY:
            payload = b""
        else:
            payload = _command_encoder.encode((call.argument, order.last_intent_id))
        self.journal.record_command(order.client_order_id, action, payload)
        self._outbox.append(call)

    def _make(self, call: PendingCall) -> None:
        """Make one broker call. Whatever it raises must not stop the adapter: an exception that is no
        BrokerError is a broker bug, and what the call did unknown."""
        order, action, argument = call.order, call.action, call.argument
        sent_ns = self.clock.mono_ns()
        try:
            if action is BrokerAction.PLACE:
                assert isinstance(argument, OrderCommand)
                self.broker.place(argument)
            elif action is BrokerAction.UPDATE_PRICE:
                assert isinstance(argument, int)
                self.broker.amend_price(order.client_order_id, argument)
            elif action is BrokerAction.UPDATE_QTY:
                assert isinstance(argument, int)
                self.broker.reduce_qty(order.client_order_id, argument)
            elif action is BrokerAction.CANCEL:
                self.broker.cancel(order.client_order_id)
            else:
                self.broker.query(order.client_order_id)
        except BrokerError as error:
            self.failures.call_failed(call, error)
            return
        except Exception as exc:
            self.log.exception("broker_call_crashed", client_order_id=order.client_order_id,
                               intent_id=order.last_intent_id, strategy_id=order.strategy_id, call=action,
                               error=repr(exc), reason=type(exc).__name__, stormguard_state=self.stormguard_level)
            self.failures.call_failed(call, BrokerOutcomeUnknown(f"{type(exc).__name__}: {exc}"), cause=exc)
            return
        self._stamp(call.ingest_ns, sent_ns, action)
        self.calls.sent(call)

    def _stamp(self, ingest_ts_ns: int, sent_ns: int, action: BrokerAction) -> None:
        """Count a broker call; time it from its market event when a command sent it straight away."""
        self.metrics.actions[action].inc()
        if ingest_ts_ns:
            self.metrics.tick_to_trade.observe((sent_ns - ingest_ts_ns) / 1e9)
            if self._received_ns:
                self.metrics.adapter_latency.observe((sent_ns - self._received_ns) / 1e9)

    def flush(self) -> None:
        self.journal.commit()
        while self._outbox:
            calls, self._outbox = self._outbox, []
            for call in calls:
                self._make(call)
            self.journal.commit()
        self.reports.writer.publish()
        slowing = self.limiter.in_window() >= self.slow_down_at
        if slowing != self._slowing:
            self._slowing = slowing
            self.on_usage_change()

    # -- bookkeeping

    def save(self, order: LiveOrder) -> None:
        self.journal.save_order(order.client_order_id, encode_order(order))

    def close(self, order: LiveOrder) -> None:
        self.calls.settle_all(order.client_order_id)
        if order.client_order_id == self.probe_id:
            self.probe_id = None
            self.breaker.release_probe()  # it never reached the broker, or its end already moved the breaker
        self.amends.supersede(order)
        self.orders.close(order)
        self.journal.drop_order(order.client_order_id)

    def _level_of(self, strategy_id: str) -> StormGuardLevel:
        return stricter(self.stormguard_level, self.strategy_levels.get(strategy_id, StormGuardLevel.NORMAL))
