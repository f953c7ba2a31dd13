"""OrderManager: approved OrderCommands into broker calls, broker answers into ExecutionReports.

Plain synchronous code on the adapter's loop thread, with every outside effect injected: a Clock
and a Scheduler, the Broker, the Journal, the ReportWriter, the rate limiter and the breaker.

Each entry point (a batch of commands, a broker event, a status answer, a timer) ends in `flush`:
the journal commits what the handler recorded — the commands about to be sent, the orders'
new state, the reports — then the broker calls go out, then the reports are published. So a
command is durable before the broker sees it, and a report before anybody does.

Semantics a desk relies on (docs/design.md, "Order adapter"):
- AMENDs of one order coalesce: while the previous amend is unanswered and younger than the
  window, a new one only replaces the wanted price; it goes out when the answer comes or the
  window passes. An amend that changes nothing (compared with the price last sent, where the
  broker ends once it answers) sends nothing. AMEND.qty is the leaves the strategy wants: less
  than the order's leaves reduces it (Shioaji can only reduce), one cut at a time; more than the
  order's original quantity is refused (qty_increase: cancel and send a new order); between the
  two, a fill raced the amend and the quantity is left alone.
- A CANCEL supersedes pending amends; a second CANCEL while one is pending is dropped.
- A NEW with no answer by its timeout is reported failed (broker_timeout) but stays tracked as
  unresolved and is queried; if it turns out live it is cancelled at once, and its fills are
  still reported (they are real). A price amend or a cancel is sent once more after a timeout (an
  amend as the order's newest target); a quantity cut never is (a second could cut twice): the
  order is queried instead. A query is never dropped: without budget it waits like any call.
- A failed call gives its budget slot back only if it provably never left the process; an
  exception that is no BrokerError is a broker bug, handled as an unknown outcome (queried).
- The breaker opens on repeated timeouts/rejects, or at once on the broker's rate-limit or
  session errors; open, it refuses NEWs and cancels everything.
- Kill switch: a global HALT (or the operator's cancel-all) closes the gate to new orders, then
  cancels every working order and keeps cancelling and querying until none is working. Hold
  fire closes the gate only. Both work without any strategy alive.
- A stop answers every command it will not send (`stop`): a NEW still waiting for the budget is
  rejected (shutting_down), an amend not yet sent too, and so is each command read after the loop
  stopped; orders at the broker stay tracked as they are, a cancel wanted for one included (the
  next start carries it out), so the next start inherits no NEW that nobody will answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import structlog

from contracts.codec import encode
from contracts.enums import (
    TERMINAL_STATUSES,
    ExecType,
    IntentAction,
    OrderStatus,
    Reason,
    StormGuardLevel,
    stricter,
)
from contracts.messages import ControlCommand, ExecutionReport, OrderCommand, StormGuardState
from services.adapter.broker_calls import BrokerCalls, CallKind, SentCall
from services.adapter.brokers.base import (
    Broker,
    BrokerError,
    BrokerEvent,
    BrokerOrderState,
    BrokerOutcomeUnknown,
    BrokerRateLimited,
    BrokerSessionDown,
)
from services.adapter.circuit_breaker import BreakerState, CircuitBreaker
from services.adapter.journal import Journal
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_map import LiveOrder, OrderMap, encode_order
from services.adapter.rate_limiter import Grant, Priority, RateLimiter
from services.adapter.reports import ReportWriter
from services.runtime.clock import Clock, Scheduler
from services.runtime.config.order_adapter import OrderAdapterConfig

_REJECT_FOR = {
    IntentAction.NEW: ExecType.REJECT,
    IntentAction.AMEND: ExecType.AMEND_REJECT,
    IntentAction.CANCEL: ExecType.CANCEL_REJECT,
}

_GATE_REASON = {"halt": Reason.STORMGUARD_HALT, "operator": Reason.STORMGUARD_HALT, "hold_fire": Reason.HOLD_FIRE}
_CANCELS_ALL = frozenset({"halt", "operator"})

_event_encoder = msgspec.msgpack.Encoder()

_KIND_OF = {"place": CallKind.PLACE, "update_price": CallKind.AMEND, "update_qty": CallKind.AMEND,
            "cancel": CallKind.CANCEL, "query": CallKind.QUERY}
_KEEP_SLOT = (BrokerRateLimited, BrokerOutcomeUnknown)  # the broker may have counted these whatever they say
_AT_THE_BROKER = frozenset({OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})


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
        self.scheduler = scheduler
        self.broker = broker
        self.journal = journal
        self.reports = reports
        self.config = config
        self.metrics = metrics
        self.log = log
        self.on_usage_change = on_usage_change
        self.orders = OrderMap()
        self.limiter = RateLimiter(clock, config.soft_cap, config.reserve,
                                   (10_000 + config.window_guard_ms) * 1_000_000)
        self.breaker = CircuitBreaker(clock, config.breaker.failures, config.breaker.window_ms * 1_000_000,
                                      config.breaker.cooldown_ms * 1_000_000)
        timeouts = config.timeouts
        self.calls = BrokerCalls(
            clock, scheduler, self.limiter,
            {CallKind.PLACE: timeouts.new_ms * 1_000_000, CallKind.AMEND: timeouts.amend_ms * 1_000_000,
             CallKind.CANCEL: timeouts.cancel_ms * 1_000_000, CallKind.QUERY: timeouts.query_ms * 1_000_000},
            self._on_timeout, self.flush,
        )
        self.coalesce_window_ns = int(config.coalesce_window_ms * 1_000_000)
        self.slow_down_at = int(config.soft_cap * config.slow_down_at)
        self.stormguard_level = StormGuardLevel.NORMAL
        self.strategy_levels: dict[str, StormGuardLevel] = {}
        self.gate: set[str] = set()
        self._outbox: list[Callable[[], None]] = []
        self._received_ns = 0  # when the batch in hand was read (0 between batches): its own share starts
        self._slowing = False
        self._probe_id: str | None = None  # the NEW let through while the breaker was half open
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
        self._event(event)
        self.flush()

    def on_status(self, state: BrokerOrderState) -> None:
        self.calls.settle(state.client_order_id, CallKind.QUERY)
        order = self.orders.get(state.client_order_id)
        if order is None:
            self.log.info("status_for_closed_order", client_order_id=state.client_order_id, status=state.status)
        else:
            self.journal.record_event(order.client_order_id, "status", _event_encoder.encode(state))
            self.apply_status(order, state)
        self.flush()

    def on_control(self, message: StormGuardState | ControlCommand) -> None:
        if isinstance(message, StormGuardState):
            self.stormguard_level = message.global_level
            self.strategy_levels = message.strategy_levels
            self._set_gate("halt", message.global_level is StormGuardLevel.HALT)
            self._set_gate("hold_fire", message.hold_fire)
        elif message.verb == "cancel_all":
            self._set_gate("operator", True)
        elif message.verb == "resume":
            self._set_gate("operator", False)
        self.flush()

    def sweep(self) -> None:
        """Every second: keep the kill switch's promise, and settle what nobody answered."""
        cancelling = bool(self.gate & _CANCELS_ALL) or self.breaker.state is BreakerState.OPEN
        for order in list(self.orders.live.values()):
            if cancelling and order.working and not order.cancel_pending:
                self._cancel(order, order.last_intent_id or order.intent_id)
            if self._needs_query(order):
                self.query(order)
        self.flush()

    def stop(self, unread: list[OrderCommand]) -> StopAnswers:
        """The adapter is stopping: answer what it will not send, journaled and ready to publish once this
        returns. `unread`: commands drained from the orders socket after the loop stopped, each refused."""
        detail = "the adapter stopped before sending it"
        news = amends = 0
        for order in list(self.orders.live.values()):
            if not order.placed and order.status is OrderStatus.PENDING_NEW:
                news += 1
                if order.cancel_wanted:
                    order.status = OrderStatus.CANCELLED
                    self.report_order(order, ExecType.CANCELLED, detail="cancelled before it reached the broker")
                else:
                    order.status = OrderStatus.REJECTED
                    self.metrics.refused.labels(Reason.SHUTTING_DOWN).inc()
                    self.report_order(order, ExecType.REJECT, reason=Reason.SHUTTING_DOWN, detail=detail)
                self.close(order)
            elif order.want_price_e4 is not None or order.want_leaves is not None:
                amends += 1
                order.want_price_e4 = order.want_leaves = None
                order.amend_waiting = order.flush_due = False
                self._settle_target(order)
                self.metrics.refused.labels(Reason.SHUTTING_DOWN).inc()
                self.report_order(order, ExecType.AMEND_REJECT, reason=Reason.SHUTTING_DOWN, detail=detail)
                self._save(order)
        for command in unread:
            self._refuse(command, Reason.SHUTTING_DOWN, "arrived while the adapter was stopping: not sent")
        self.calls.drop_waiting()
        self.flush()
        return StopAnswers(news, amends, len(unread), len(self.orders.live))

    def _needs_query(self, order: LiveOrder) -> bool:
        """Only the broker can say what became of it: a NEW that timed out, a cancel still wanted, a
        quantity cut never answered. Not while a cancel is on its way or queued, nor while the NEW has
        not left (queued, or in flight: a query could find it missing before it arrives)."""
        if not order.placed or order.cancel_pending or order.cancel_waiting:
            return False
        client_order_id = order.client_order_id
        if self.calls.in_flight(client_order_id, CallKind.PLACE):
            return False
        return order.unresolved or order.cancel_wanted or (
            order.sent_leaves is not None and not self.calls.in_flight(client_order_id, CallKind.AMEND))

    # -- commands

    def _command(self, command: OrderCommand) -> None:
        if command.action is not IntentAction.CANCEL and self.clock.mono_ns() > command.deadline_ns:
            self._refuse(command, Reason.STALE_INTENT, "arrived past its deadline")
            return
        if command.action is IntentAction.NEW:
            self._new(command)
            return
        order = self.orders.get(command.client_order_id)
        if order is None and self.orders.known(command.client_order_id):
            self._refuse(command, Reason.TOO_LATE, "order already filled, cancelled or rejected")
        elif order is None or order.unresolved:
            self._refuse(command, Reason.UNKNOWN_ORDER, "no live order with this id")
        elif order.strategy_id != command.strategy_id:
            self._refuse(command, Reason.UNKNOWN_ORDER, f"order {order.client_order_id} is not {command.strategy_id}'s")
        elif command.action is IntentAction.AMEND:
            self._amend(order, command)
        elif order.cancel_pending or order.cancel_wanted:
            self.metrics.duplicate_cancels.inc()
        else:
            order.last_ingest_ns = command.ingest_ts_ns
            self._cancel(order, command.intent_id)
            order.last_ingest_ns = 0

    def _new(self, command: OrderCommand) -> None:
        if self.orders.known(command.client_order_id):
            self._refuse(command, Reason.DUPLICATE_INTENT, "client order id already used")
            return
        if self.gate:
            reason = next(iter(self.gate))
            self._refuse(command, _GATE_REASON[reason], f"the adapter's gate is closed ({reason})")
            return
        if not self.breaker.allow_new():
            self._refuse(command, Reason.CIRCUIT_OPEN, f"circuit breaker open: {self.breaker.reason}")
            return
        if self.breaker.state is BreakerState.HALF_OPEN:
            self._probe_id = command.client_order_id
        now_ns = self.clock.wall_ns()
        order = LiveOrder(
            client_order_id=command.client_order_id, intent_id=command.intent_id,
            strategy_id=command.strategy_id, symbol=command.symbol, side=command.side, qty=command.qty,
            price_e4=command.price_e4, price_type=command.price_type, tif=command.tif,
            last_intent_id=command.intent_id, target_price_e4=command.price_e4, sent_price_e4=command.price_e4,
            created_ns=now_ns, updated_ns=now_ns,
        )
        self.orders.add(order)
        self._place(order, command)

    def _place(self, order: LiveOrder, command: OrderCommand) -> None:
        if order.cancel_wanted:
            order.status = OrderStatus.CANCELLED
            self.report_order(order, ExecType.CANCELLED, detail="cancelled before it reached the broker")
            self.close(order)
            return
        grant = self.calls.acquire(Priority.NORMAL)
        if grant is None:
            self._save(order)
            self.calls.wait(Priority.NORMAL, lambda: self._place_waited(order, command))
            return
        order.placed = True
        self._save(order)
        self.journal.record_command(order.client_order_id, "place", encode(command))
        self._outbox.append(lambda: self._send_place(order, command, grant))

    def _place_waited(self, order: LiveOrder, command: OrderCommand) -> None:
        """A NEW that waited for the budget: the world may have changed while it waited."""
        if order.cancel_wanted:
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
        order.status = OrderStatus.REJECTED
        self.report_order(order, ExecType.REJECT, reason=reason, detail=detail)
        self.close(order)

    def _send_place(self, order: LiveOrder, command: OrderCommand, grant: Grant) -> None:
        sent_ns = self.clock.mono_ns()
        if not self._call(order, "place", grant, self.broker.place, command):
            return
        self.calls.sent(CallKind.PLACE, order.client_order_id)
        self._stamp(command.ingest_ts_ns, sent_ns, "place")

    def _call(self, order: LiveOrder, action: str, grant: Grant, call: Callable[..., None], *args: object) -> bool:
        """Make one broker call; False when it raised, the failure handled. Whatever it raises must not
        stop the adapter: an exception that is no BrokerError is a broker bug, and what the call did unknown."""
        try:
            call(*args)
        except BrokerError as error:
            self._call_failed(order, action, error, grant)
            return False
        except Exception as exc:
            self.log.exception("broker_call_crashed", client_order_id=order.client_order_id,
                               intent_id=order.last_intent_id, strategy_id=order.strategy_id, call=action,
                               error=repr(exc), reason=type(exc).__name__, stormguard_state=self.stormguard_level)
            self._call_failed(order, action, BrokerOutcomeUnknown(f"{type(exc).__name__}: {exc}"), grant,
                              cause=exc)
            return False
        return True

    def _amend(self, order: LiveOrder, command: OrderCommand) -> None:
        self.metrics.amend_intents.inc()
        if order.cancel_pending or order.cancel_wanted:
            self._refuse(command, Reason.TOO_LATE, "order is being cancelled")
            return
        if command.qty > order.qty:
            self._refuse(command, Reason.QTY_INCREASE,
                         f"Shioaji can only reduce quantity ({order.qty} → {command.qty}): cancel and send a new order")
            return
        # A cut on its way already takes the order down to sent_leaves: asking for those again is no change.
        leaves_qty = order.leaves_qty if order.sent_leaves is None else min(order.leaves_qty, order.sent_leaves)
        want_leaves = command.qty if command.qty < leaves_qty else None
        if want_leaves is None and command.price_e4 == order.target_price_e4 and order.sent_price_e4 is not None:
            self._unchanged(order, command.intent_id)
            return
        if order.want_price_e4 is not None or order.want_leaves is not None:
            self.metrics.amends_coalesced.inc()
        order.want_price_e4 = command.price_e4
        order.want_deadline_ns = command.deadline_ns
        order.target_price_e4 = command.price_e4
        if want_leaves is not None:
            order.want_leaves = want_leaves
        order.last_intent_id = command.intent_id
        if order.status is OrderStatus.PENDING_NEW:
            self._save(order)
            return
        due_ns = order.last_amend_ns + self.coalesce_window_ns
        if order.amends_in_flight and self.clock.mono_ns() < due_ns:
            if not order.flush_due:
                order.flush_due = True
                self.scheduler.call_later(due_ns - self.clock.mono_ns(), lambda: self._window_passed(order))
            self._save(order)
            return
        # Sent in the same turn as its command: tick-to-trade applies (a coalesced amend sent later does not).
        order.last_ingest_ns = command.ingest_ts_ns
        self._send_amends(order)
        order.last_ingest_ns = 0

    def _window_passed(self, order: LiveOrder) -> None:
        order.flush_due = False
        self._send_amends(order)
        self.flush()

    def _send_amends(self, order: LiveOrder) -> None:
        """Send what the order still wants: a lower quantity first, then the newest price."""
        if order.want_price_e4 is None and order.want_leaves is None:
            return
        if order.client_order_id not in self.orders.live or not order.working or order.cancel_wanted:
            order.want_price_e4 = order.want_leaves = None
            return
        if order.status is OrderStatus.PENDING_NEW or order.amend_waiting:
            return
        if self.clock.mono_ns() > order.want_deadline_ns:
            order.want_price_e4 = order.want_leaves = None
            self._settle_target(order)
            self.metrics.refused.labels(Reason.STALE_INTENT).inc()
            self.report_order(order, ExecType.AMEND_REJECT, reason=Reason.STALE_INTENT,
                              detail="the amend waited past its deadline")
            self._save(order)
            return
        if order.want_leaves is not None and order.want_leaves >= order.leaves_qty:
            order.want_leaves = None
        if order.want_price_e4 == order.sent_price_e4:
            order.want_price_e4 = None  # where the broker already is, or will be once it answers
        if order.want_price_e4 is None and order.want_leaves is None:
            self._unchanged(order)
            self._save(order)
            return
        # One cut at a time: a second sent before the first is answered could take the lots off twice.
        if order.want_leaves is not None and order.sent_leaves is None:
            grant = self._amend_slot(order)
            if grant is None:
                return
            order.sent_leaves = order.want_leaves
            order.want_leaves = None
            self._send_amend(order, grant, "update_qty", order.leaves_qty - order.sent_leaves)
        if order.want_price_e4 is not None:
            grant = self._amend_slot(order)
            if grant is None:
                return
            order.sent_price_e4 = order.want_price_e4
            order.want_price_e4 = None
            self._send_amend(order, grant, "update_price", order.sent_price_e4)
        self._save(order)

    def _unchanged(self, order: LiveOrder, intent_id: str = "") -> None:
        """An amend to what the order has, or will have once the broker answers: nothing is sent, and
        the strategy is answered at once unless an answer still to come will do it."""
        self.metrics.amends_unchanged.inc()
        if order.amends_in_flight or order.want_price_e4 is not None or order.want_leaves is not None:
            return
        if intent_id:
            order.last_intent_id = intent_id
        self.report_order(order, ExecType.AMENDED, detail="unchanged: no broker call")

    def _settle_target(self, order: LiveOrder) -> None:
        """Nothing wanted and nothing in flight: the order is headed nowhere but the price it has."""
        if order.want_price_e4 is None and not order.amends_in_flight:
            order.target_price_e4 = order.price_e4

    def _amend_slot(self, order: LiveOrder) -> Grant | None:
        grant = self.calls.acquire(Priority.NORMAL)
        if grant is not None:
            return grant
        order.amend_waiting = True
        self._save(order)
        self.calls.wait(Priority.NORMAL, lambda: self._amend_waited(order))
        return None

    def _amend_waited(self, order: LiveOrder) -> None:
        order.amend_waiting = False
        self._send_amends(order)

    def _send_amend(self, order: LiveOrder, grant: Grant, action: str, argument: int) -> None:
        """update_qty (`argument` lots off) or update_price (to `argument`), the budget slot just granted."""
        ingest_ns = order.last_ingest_ns
        order.amends_in_flight += 1
        order.last_amend_ns = self.clock.mono_ns()
        client_order_id = order.client_order_id
        self.journal.record_command(client_order_id, action, _event_encoder.encode((argument, order.last_intent_id)))
        call = self.broker.reduce_qty if action == "update_qty" else self.broker.amend_price
        attempt = 2 if order.amend_retried and action == "update_price" else 1  # a timed-out price amend goes again

        def send() -> None:
            sent_ns = self.clock.mono_ns()
            if not self._call(order, action, grant, call, client_order_id, argument):
                return
            self._stamp(ingest_ns, sent_ns, action)
            self.calls.sent(CallKind.AMEND, client_order_id, attempt, action)

        self._outbox.append(send)

    def _cancel(self, order: LiveOrder, intent_id: str) -> None:
        """Cancel now if the budget allows (cancels go first), else as soon as it does."""
        if order.want_price_e4 is not None or order.want_leaves is not None:
            self.metrics.amends_superseded.inc()
            order.want_price_e4 = order.want_leaves = None
        order.cancel_wanted = True
        order.last_intent_id = intent_id
        if order.cancel_pending:
            return  # one cancel at the broker at a time
        if not order.placed or order.status is OrderStatus.PENDING_NEW:
            self._save(order)  # cancelled when the NEW leaves the queue, or when its ack arrives
            return
        if order.cancel_waiting:
            return
        grant = self.calls.acquire(Priority.URGENT)
        if grant is None:
            order.cancel_waiting = True
            self._save(order)
            self.calls.wait(Priority.URGENT, lambda: self._cancel_waited(order))
            return
        self._send_cancel(order, grant)

    def _cancel_waited(self, order: LiveOrder) -> None:
        """A cancel that waited for the budget: the order may have finished meanwhile."""
        order.cancel_waiting = False
        if order.client_order_id not in self.orders.live or not order.working:
            self.metrics.refused.labels(Reason.TOO_LATE).inc()
            self.report_order(order, ExecType.CANCEL_REJECT, reason=Reason.TOO_LATE,
                              detail=f"order {order.status} while the cancel waited for the order budget")
        elif not order.cancel_pending:
            self._cancel(order, order.last_intent_id)

    def _send_cancel(self, order: LiveOrder, grant: Grant, attempt: int = 1) -> None:
        """Cancel at the broker, the budget slot just granted."""
        ingest_ns = order.last_ingest_ns
        order.cancel_pending = True
        self._save(order)
        self.journal.record_command(order.client_order_id, "cancel", order.last_intent_id.encode())

        def send() -> None:
            sent_ns = self.clock.mono_ns()
            if not self._call(order, "cancel", grant, self.broker.cancel, order.client_order_id):
                return
            self._stamp(ingest_ns, sent_ns, "cancel")
            self.calls.sent(CallKind.CANCEL, order.client_order_id, attempt)

        self._outbox.append(send)

    def query(self, order: LiveOrder, attempt: int = 1) -> None:
        """Ask the broker what became of the order: now, or as soon as the budget allows, never
        dropped; nothing if a query of it is already on its way or queued."""
        if order.query_waiting or self.calls.in_flight(order.client_order_id, CallKind.QUERY):
            return
        priority = Priority.URGENT if self.gate & _CANCELS_ALL else Priority.NORMAL
        grant = self.calls.acquire(priority)
        if grant is None:
            order.query_waiting = True
            self._save(order)
            self.calls.wait(priority, lambda: self._query_waited(order, attempt))
            return
        self.journal.record_command(order.client_order_id, "query", b"")

        def send() -> None:
            if not self._call(order, "query", grant, self.broker.query, order.client_order_id):
                return
            self._stamp(0, 0, "query")
            self.calls.sent(CallKind.QUERY, order.client_order_id, attempt)

        self._outbox.append(send)

    def _query_waited(self, order: LiveOrder, attempt: int) -> None:
        order.query_waiting = False
        if order.client_order_id in self.orders.live:
            self.query(order, attempt)

    def cancel_all(self, why: str) -> None:
        """Phase two of the kill switch: cancel every working order (the sweep keeps at it)."""
        working = [order for order in self.orders.live.values() if order.working and not order.cancel_pending]
        self.metrics.cancel_all.inc()
        self.log.warning("cancel_all", reason=why, orders=len(working), stormguard_state=self.stormguard_level)
        for order in working:
            self._cancel(order, order.last_intent_id or order.intent_id)

    def _set_gate(self, reason: str, closed: bool) -> None:
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

    # -- failures and timeouts

    def _call_failed(self, order: LiveOrder, action: str, error: BrokerError, grant: Grant,
                     cause: Exception | None = None) -> None:
        kind = _KIND_OF[action]
        unknown = isinstance(error, BrokerOutcomeUnknown)
        slot_back = not error.sent and not isinstance(error, _KEEP_SLOT)
        if slot_back:
            self.limiter.release(grant)
        self.metrics.broker_errors.labels(type(cause or error).__name__).inc()
        self.log.warning("broker_call_failed", client_order_id=order.client_order_id, intent_id=order.last_intent_id,
                         strategy_id=order.strategy_id, call=action, error=str(error), reason=type(error).__name__,
                         budget_slot_returned=slot_back, stormguard_state=self.stormguard_level)
        if kind is CallKind.AMEND:
            order.amends_in_flight -= 1
            if action == "update_qty" and not unknown:
                order.sent_leaves = None  # an unknown cut stays held until a query says what it did
            elif action == "update_price":
                order.sent_price_e4 = order.price_e4 if not (unknown or order.amends_in_flight) else None
            self._settle_target(order)
        elif kind is CallKind.CANCEL:
            order.cancel_pending = False
        if isinstance(error, BrokerRateLimited | BrokerSessionDown):
            self._breaker_changed(self.breaker.trip(f"{type(error).__name__}: {error}"))
        elif not unknown:
            self._breaker_changed(self.breaker.record_failure(str(error)))
        if unknown:
            if kind is CallKind.PLACE:
                self._unresolve(order, f"outcome unknown: {error}")
            if kind is not CallKind.QUERY:  # a query that failed so is not asked again at once: the sweep asks
                self.query(order)
            return
        if kind is CallKind.PLACE:
            order.status = OrderStatus.REJECTED
            reason = Reason.RATE_LIMITED if isinstance(error, BrokerRateLimited) else (
                Reason.CIRCUIT_OPEN if isinstance(error, BrokerSessionDown) else Reason.BROKER_REJECT)
            self.report_order(order, ExecType.REJECT, reason=reason, detail=str(error))
            self.close(order)
        elif kind is CallKind.AMEND:
            self.report_order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_REJECT, detail=str(error))
            self._save(order)
        elif kind is CallKind.CANCEL:
            self._save(order)  # cancel_wanted stays: the sweep cancels again

    def _on_timeout(self, call: SentCall) -> None:
        order = self.orders.get(call.client_order_id)
        self.metrics.timeouts.labels(call.kind).inc()
        if order is None:
            return
        self.log.warning("broker_timeout", client_order_id=order.client_order_id, intent_id=order.last_intent_id,
                         strategy_id=order.strategy_id, call=call.kind, attempt=call.attempt,
                         reason=Reason.BROKER_TIMEOUT, stormguard_state=self.stormguard_level)
        self._breaker_changed(self.breaker.record_failure(f"{call.action} timed out"))
        if call.kind is CallKind.PLACE:
            self._unresolve(order, "no answer from the broker in time")
            self.query(order)
        elif call.kind is CallKind.QUERY:
            if call.attempt == 1:
                self.metrics.retries.labels(call.kind).inc()
                self.query(order, attempt=2)  # later on, the sweep asks while the order needs settling
        elif call.kind is CallKind.AMEND:
            self._amend_timed_out(order, call)
        else:
            order.cancel_pending = False
            grant = self.calls.acquire(Priority.URGENT) if call.attempt == 1 else None
            if grant is not None:
                self.metrics.retries.labels(call.kind).inc()
                self._send_cancel(order, grant, attempt=2)
            else:
                self.report_order(order, ExecType.CANCEL_REJECT, reason=Reason.BROKER_TIMEOUT,
                                  detail="no answer to the cancel, retried once; the adapter keeps trying")
                self.query(order)
        self.flush()

    def _amend_timed_out(self, order: LiveOrder, call: SentCall) -> None:
        order.amends_in_flight = max(0, order.amends_in_flight - 1)
        if call.action == "update_qty":
            # Never sent again: if the cut landed, a second would cut twice. The query says what it did;
            # wanted leaves wait for its answer (sent_leaves stays).
            self.report_order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_TIMEOUT,
                              detail="no answer to the quantity change: the order is queried")
            self.query(order)
            return
        order.sent_price_e4 = None  # the broker may be at either price: the next amend goes out whatever it asks
        if not order.amend_retried:
            # Sent again as the order's newest target, not the price that timed out: a newer amend may be wanted.
            order.amend_retried = True
            self.metrics.retries.labels(call.kind).inc()
            if order.want_price_e4 is None:
                order.want_price_e4 = order.target_price_e4
                order.want_deadline_ns = max(order.want_deadline_ns, self.clock.mono_ns())
            self._send_amends(order)
            return
        order.amend_retried = False
        self._settle_target(order)
        self.report_order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_TIMEOUT,
                          detail="no answer to the amend, retried once")
        self.query(order)

    def _unresolve(self, order: LiveOrder, detail: str) -> None:
        """Report a NEW failed to strategy and risk, but keep tracking it until the broker settles it."""
        if order.unresolved:
            return
        order.unresolved = True
        self.metrics.unresolved.inc()
        self.report_order(order, ExecType.REJECT, reason=Reason.BROKER_TIMEOUT,
                           detail=f"{detail}; tracked until the broker settles it", status=OrderStatus.REJECTED)
        self._save(order)

    def _breaker_changed(self, opened: bool) -> None:
        if not opened:
            return
        self.metrics.breaker_opened.inc()
        self.log.error("circuit_breaker_open", reason=self.breaker.reason, stormguard_state=self.stormguard_level)
        self.cancel_all("circuit breaker open")
        self.on_usage_change()

    def _broker_took_new(self) -> None:
        """The broker took a NEW (its ack, a deal before the ack, a status showing it): in HALF_OPEN
        with the probe let through, that closes the breaker."""
        if self.breaker.record_success():
            self._probe_id = None
            self.log.info("circuit_breaker_closed", stormguard_state=self.stormguard_level)
            self.on_usage_change()

    # -- broker answers

    def _event(self, event: BrokerEvent) -> None:
        order = self.orders.get(event.client_order_id)
        closed = self.orders.closed(event.client_order_id) if order is None else None
        if closed is not None and event.kind is ExecType.FILL and event.exec_id not in closed.exec_ids:
            self._late_fill(closed, event)
            return
        if order is None:
            self.metrics.late_events.inc()
            self.log.info("broker_event_for_closed_order", client_order_id=event.client_order_id,
                          exec_type=event.kind, reason=Reason.TOO_LATE if self.orders.known(event.client_order_id)
                          else Reason.UNKNOWN_ORDER)
            return
        if event.kind is ExecType.FILL and event.exec_id:
            if event.exec_id in order.exec_ids:
                self.metrics.duplicate_events.inc()
                return
            order.exec_ids.add(event.exec_id)
        self.journal.record_event(order.client_order_id, event.kind, _event_encoder.encode(event))
        if event.broker_order_id:
            order.broker_order_id = event.broker_order_id
        order.updated_ns = self.clock.wall_ns()
        handler = _HANDLERS[event.kind]
        handler(self, order, event)
        if order.status in TERMINAL_STATUSES:
            self.close(order)
        else:
            self._save(order)

    def _late_fill(self, order: LiveOrder, event: BrokerEvent) -> None:
        """A deal for an order already closed (Shioaji's deal and order streams are not ordered: an
        IOC's EXPIRED can come before its last deal). The position is real: report it."""
        if event.exec_id:
            order.exec_ids.add(event.exec_id)
        self.journal.record_event(order.client_order_id, event.kind, _event_encoder.encode(event))
        order.cum_qty += event.qty
        self.metrics.fills.inc()
        self._report(order, ExecType.FILL, last_price_e4=event.price_e4, last_qty=event.qty,
                     detail="deal after the order was closed")

    def _on_ack(self, order: LiveOrder, event: BrokerEvent) -> None:
        self.calls.settle(order.client_order_id, CallKind.PLACE)
        self._broker_took_new()
        if order.status is OrderStatus.PENDING_NEW:
            order.status = OrderStatus.WORKING
        if order.unresolved:
            self.log.warning("late_ack_cancelled", client_order_id=order.client_order_id, intent_id=order.intent_id,
                             strategy_id=order.strategy_id, reason=Reason.BROKER_TIMEOUT,
                             stormguard_state=self.stormguard_level)
            self._cancel(order, order.intent_id)
            return
        self._report(order, ExecType.ACK, intent_id=order.intent_id)
        if order.cancel_wanted:
            self._cancel(order, order.last_intent_id)
        else:
            self._send_amends(order)

    def _on_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        self.calls.settle_all(order.client_order_id)
        order.status = OrderStatus.REJECTED
        self._breaker_changed(self.breaker.record_failure(f"broker reject: {event.detail}"))
        if not order.unresolved:
            self._report(order, ExecType.REJECT, intent_id=order.intent_id, reason=Reason.BROKER_REJECT,
                         detail=event.detail)

    def _on_fill(self, order: LiveOrder, event: BrokerEvent) -> None:
        if self.calls.settle(order.client_order_id, CallKind.PLACE) is not None:
            self._broker_took_new()  # a deal before the ack
        order.cum_qty += event.qty
        order.status = OrderStatus.FILLED if order.cum_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
        self.metrics.fills.inc()
        self._report(order, ExecType.FILL, last_price_e4=event.price_e4, last_qty=event.qty, detail=event.detail)
        if order.unresolved and order.working and not order.cancel_pending:
            self._cancel(order, order.intent_id)

    def _amend_answered(self, order: LiveOrder, event: BrokerEvent) -> None:
        """An update_price or update_qty answered. An answer that names its call (`event.op`: Shioaji's
        op_type, the simulator's) settles only a call of that kind: the late answer to a price amend that
        timed out and was resent must not settle a cut still on its way, or a second cut could go; nor
        may a cut's late answer settle a price amend in flight. One that does not say is taken by the
        oldest amend in flight, and shows a cut when the quantity went down."""
        action = event.op or None
        call = self.calls.settle(order.client_order_id, CallKind.AMEND, action)
        cut_landed = event.kind is ExecType.AMENDED and (
            action == "update_qty" if action else 0 < event.qty < order.qty)
        if cut_landed:
            order.sent_leaves = None
        if call is None:
            return  # answers a call that timed out and was dealt with then
        order.amends_in_flight = max(0, order.amends_in_flight - 1)
        order.amend_retried = False
        if call.action == "update_qty":
            order.sent_leaves = None

    def _on_amended(self, order: LiveOrder, event: BrokerEvent) -> None:
        self._amend_answered(order, event)
        order.price_e4 = event.price_e4 or order.price_e4
        if event.qty:
            order.qty = event.qty
            if order.cum_qty >= order.qty:
                order.status = OrderStatus.FILLED
        if not order.amends_in_flight:
            order.sent_price_e4 = order.price_e4
        self._report(order, ExecType.AMENDED, detail=event.detail)
        self._send_amends(order)

    def _on_amend_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        self._amend_answered(order, event)
        if not order.amends_in_flight:
            order.sent_price_e4 = order.price_e4
        self._settle_target(order)
        self._report(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_REJECT, detail=event.detail)
        self._send_amends(order)

    def _on_cancelled(self, order: LiveOrder, event: BrokerEvent) -> None:
        self.calls.settle_all(order.client_order_id)
        order.status = OrderStatus.CANCELLED
        self._report(order, event.kind, detail=event.detail)

    def _on_cancel_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        self.calls.settle(order.client_order_id, CallKind.CANCEL)
        order.cancel_pending = False
        if not order.unresolved:
            self._report(order, ExecType.CANCEL_REJECT, reason=Reason.BROKER_REJECT, detail=event.detail)
        self.query(order)  # the broker says it is not working: learn what it is

    def apply_status(self, order: LiveOrder, state: BrokerOrderState) -> None:
        """Settle an order from what the broker says of it (a query's answer, or start-up reconciliation)."""
        if state.status is None:
            self._resolve_missing(order)
            return
        if state.broker_order_id:
            order.broker_order_id = state.broker_order_id
        if order.status is OrderStatus.PENDING_NEW and state.status in _AT_THE_BROKER:
            self._broker_took_new()
        # A cut whose answer never came: the broker's quantity says what it did (none is on its way now).
        cut_settled = order.sent_leaves is not None and not self.calls.in_flight(order.client_order_id, CallKind.AMEND)
        if cut_settled:
            order.sent_leaves = None
        if state.qty and state.qty < order.qty:
            order.qty = state.qty
            if cut_settled:
                self._report(order, ExecType.AMENDED, detail="quantity change found by a status query")
        if state.cum_qty > order.cum_qty:
            missed = state.cum_qty - order.cum_qty
            order.cum_qty = state.cum_qty
            order.status = OrderStatus.FILLED if order.cum_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
            self.metrics.fills.inc()
            self._report(order, ExecType.FILL, last_price_e4=order.price_e4, last_qty=missed,
                         detail="fill found by a status query: price is the order's")
        if state.status in (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED):
            if order.status is OrderStatus.PENDING_NEW:
                order.status = OrderStatus.WORKING
                if not order.unresolved:
                    self._report(order, ExecType.ACK, intent_id=order.intent_id, detail="ack found by a status query")
            if order.unresolved or order.cancel_wanted or self.gate & _CANCELS_ALL:
                self._cancel(order, order.last_intent_id or order.intent_id)
        elif state.status is OrderStatus.CANCELLED and order.status is not OrderStatus.FILLED:
            order.status = OrderStatus.CANCELLED
            self._report(order, ExecType.CANCELLED, detail="cancelled, found by a status query")
        elif state.status is OrderStatus.REJECTED:
            order.status = OrderStatus.REJECTED
            if not order.unresolved:
                self._report(order, ExecType.REJECT, intent_id=order.intent_id, reason=Reason.BROKER_REJECT,
                             detail="rejected, found by a status query")
        elif state.status is OrderStatus.FILLED:
            order.status = OrderStatus.FILLED
        if order.status in TERMINAL_STATUSES:
            self.close(order)
            return
        if cut_settled:
            self._send_amends(order)  # leaves wanted meanwhile were held for this answer
        self._save(order)

    def _resolve_missing(self, order: LiveOrder) -> None:
        """The broker has no such order: it never got there, or was lost with a restarted broker."""
        self.log.warning("order_not_at_broker", client_order_id=order.client_order_id, intent_id=order.intent_id,
                         strategy_id=order.strategy_id, reason=Reason.UNKNOWN_ORDER,
                         stormguard_state=self.stormguard_level)
        if order.status is OrderStatus.PENDING_NEW:
            order.status = OrderStatus.REJECTED
            if not order.unresolved:
                self._report(order, ExecType.REJECT, intent_id=order.intent_id, reason=Reason.UNKNOWN_ORDER,
                             detail="the broker has no such order")
        else:
            order.status = OrderStatus.CANCELLED
            self._report(order, ExecType.CANCELLED, reason=Reason.UNKNOWN_ORDER,
                         detail="the broker no longer has this order")
        self.close(order)

    # -- bookkeeping

    def _save(self, order: LiveOrder) -> None:
        self.journal.save_order(order.client_order_id, encode_order(order))

    def close(self, order: LiveOrder) -> None:
        self.calls.settle_all(order.client_order_id)
        if order.client_order_id == self._probe_id:
            self._probe_id = None
            self.breaker.release_probe()  # it never reached the broker, or its end already moved the breaker
        if order.want_price_e4 is not None or order.want_leaves is not None:
            self.metrics.amends_superseded.inc()
            order.want_price_e4 = order.want_leaves = None
        self.orders.close(order)
        self.journal.drop_order(order.client_order_id)

    def _stamp(self, ingest_ts_ns: int, sent_ns: int, action: str) -> None:
        """Count a broker call; time it from its market event when a command sent it straight away."""
        self.metrics.actions[action].inc()
        if ingest_ts_ns:
            self.metrics.tick_to_trade.observe((sent_ns - ingest_ts_ns) / 1e9)
            if self._received_ns:
                self.metrics.adapter_latency.observe((sent_ns - self._received_ns) / 1e9)

    def flush(self) -> None:
        self.journal.commit()
        while self._outbox:
            sends, self._outbox = self._outbox, []
            for send in sends:
                send()
            self.journal.commit()
        self.reports.publish()
        slowing = self.limiter.in_window() >= self.slow_down_at
        if slowing != self._slowing:
            self._slowing = slowing
            self.on_usage_change()

    def _refuse(self, command: OrderCommand, reason: Reason, detail: str) -> None:
        self.metrics.refused.labels(reason).inc()
        order = self.orders.get(command.client_order_id)
        self._write(ExecutionReport(
            seq=0, client_order_id=command.client_order_id,
            intent_id=command.intent_id, strategy_id=command.strategy_id, symbol=command.symbol,
            side=command.side, exec_type=_REJECT_FOR[command.action],
            # A refused duplicate NEW must not read as the end of the live order with its id.
            status=order.status if order is not None else OrderStatus.REJECTED,
            price_e4=command.price_e4, qty=command.qty,
            cum_qty=order.cum_qty if order is not None else 0,
            leaves_qty=order.leaves_qty if order is not None else 0,
            reason=reason, detail=detail, ts_ns=self.clock.wall_ns(),
        ))

    def report_order(self, order: LiveOrder, exec_type: ExecType, *, reason: Reason | None = None,
                      detail: str = "", status: OrderStatus | None = None) -> None:
        intent_id = order.intent_id if exec_type in (ExecType.ACK, ExecType.REJECT) else order.last_intent_id
        self._report(order, exec_type, intent_id=intent_id, reason=reason, detail=detail, status=status)

    def _report(self, order: LiveOrder, exec_type: ExecType, *, intent_id: str | None = None,
                last_price_e4: int = 0, last_qty: int = 0, reason: Reason | None = None, detail: str = "",
                status: OrderStatus | None = None) -> None:
        self._write(ExecutionReport(
            seq=0, client_order_id=order.client_order_id,
            intent_id=intent_id if intent_id is not None else order.last_intent_id,
            strategy_id=order.strategy_id, symbol=order.symbol, side=order.side, exec_type=exec_type,
            status=status if status is not None else order.status, price_e4=order.price_e4, qty=order.qty,
            cum_qty=order.cum_qty, leaves_qty=0 if status is OrderStatus.REJECTED else order.leaves_qty,
            last_price_e4=last_price_e4, last_qty=last_qty, reason=reason, detail=detail,
            broker_order_id=order.broker_order_id, ts_ns=self.clock.wall_ns(),
        ))

    def _write(self, report: ExecutionReport) -> None:
        self.reports.write(report)
        self.metrics.reports[report.exec_type].inc()
        if report.reason is not None or report.exec_type is ExecType.FILL:
            self.log.info(
                f"order_{report.exec_type}", intent_id=report.intent_id, strategy_id=report.strategy_id,
                client_order_id=report.client_order_id, reason=report.reason, detail=report.detail,
                last_qty=report.last_qty, last_price_e4=report.last_price_e4,
                stormguard_state=stricter(self.stormguard_level,
                                          self.strategy_levels.get(report.strategy_id, StormGuardLevel.NORMAL)),
            )


_HANDLERS: dict[ExecType, Callable[[OrderManager, LiveOrder, BrokerEvent], None]] = {
    ExecType.ACK: OrderManager._on_ack,
    ExecType.REJECT: OrderManager._on_reject,
    ExecType.FILL: OrderManager._on_fill,
    ExecType.AMENDED: OrderManager._on_amended,
    ExecType.AMEND_REJECT: OrderManager._on_amend_reject,
    ExecType.CANCELLED: OrderManager._on_cancelled,
    ExecType.EXPIRED: OrderManager._on_cancelled,
    ExecType.CANCEL_REJECT: OrderManager._on_cancel_reject,
}
