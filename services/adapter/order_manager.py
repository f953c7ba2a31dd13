"""OrderManager: turns approved OrderCommands into broker calls and broker answers into ExecutionReports.

Plain synchronous code: a Clock, a Broker, a sink for reports, a latency ring. It keeps the live
order map, refuses what arrives past its deadline (cancels excepted), drops a second cancel of the
same order, and stamps tick-to-trade at the moment an order is handed to the broker.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts.enums import TERMINAL_STATUSES, ExecType, IntentAction, OrderStatus, Reason, StormGuardLevel
from contracts.messages import ExecutionReport, Message, OrderCommand, StormGuardState
from services.adapter.brokers.base import Broker, BrokerEvent
from services.adapter.latency import LatencyRing
from services.adapter.order_map import LiveOrder, OrderMap
from services.adapter.usage_window import BrokerUsageWindow
from services.runtime.clock import Clock

T2T_BUCKETS_NS = (5e4, 1e5, 2e5, 3e5, 5e5, 7.5e5, 1e6, 2e6, 5e6, 1e7, 1e8)

_REJECT_FOR = {
    IntentAction.NEW: ExecType.REJECT,
    IntentAction.AMEND: ExecType.AMEND_REJECT,
    IntentAction.CANCEL: ExecType.CANCEL_REJECT,
}

_STATUS_AFTER = {
    ExecType.ACK: OrderStatus.WORKING,
    ExecType.REJECT: OrderStatus.REJECTED,
    ExecType.CANCELLED: OrderStatus.CANCELLED,
    ExecType.EXPIRED: OrderStatus.CANCELLED,
}


class ReportSink(Protocol):
    """Where reports go: the exec Publisher, which numbers them (see runtime/sockets.py)."""

    def send(self, message: Message) -> None: ...


class AdapterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        actions = Counter("order_actions_count", "Broker calls made", ["action"], registry=registry)
        reports = Counter("exec_reports", "Execution reports published", ["exec_type"], registry=registry)
        # Label lookups cost more than the increment itself: bind every child once.
        self.actions = {action: actions.labels(action) for action in ("place", "update_price", "cancel")}
        self.reports = {exec_type: reports.labels(exec_type) for exec_type in ExecType}
        self.fills = Counter("fills", "Fills received from the broker", registry=registry)
        self.refused = Counter("adapter_refused", "Commands refused by the adapter", ["reason"],
                               registry=registry)
        self.duplicate_cancels = Counter("duplicate_cancels", "Second cancels dropped", registry=registry)
        self.tick_to_trade = Histogram(
            "tick_to_trade_latency_ns", "Market event ingest to broker call, in ns",
            buckets=T2T_BUCKETS_NS, registry=registry,
        )


class OrderManager:
    def __init__(
        self,
        clock: Clock,
        broker: Broker,
        sink: ReportSink,
        latency: LatencyRing,
        usage: BrokerUsageWindow,
        metrics: AdapterMetrics,
        log: structlog.stdlib.BoundLogger,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.sink = sink
        self.latency = latency
        self.usage = usage
        self.metrics = metrics
        self.log = log
        self.orders = OrderMap()
        self.stormguard_level = StormGuardLevel.NORMAL
        broker.set_event_callback(self.on_broker_event)

    def on_command(self, command: OrderCommand) -> None:
        if command.action is not IntentAction.CANCEL and self.clock.mono_ns() > command.deadline_ns:
            self._refuse(command, Reason.STALE_INTENT, "arrived past its deadline")
            return
        if command.action is IntentAction.NEW:
            self._new(command)
            return
        order = self.orders.get(command.client_order_id)
        if order is None and self.orders.known(command.client_order_id):
            self._refuse(command, Reason.TOO_LATE, "order already filled, cancelled or rejected")
        elif order is None:
            self._refuse(command, Reason.UNKNOWN_ORDER, "no live order with this id")
        elif command.action is IntentAction.AMEND:
            self._amend(order, command)
        else:
            self._cancel(order, command)

    def _new(self, command: OrderCommand) -> None:
        if self.orders.known(command.client_order_id):
            self._refuse(command, Reason.DUPLICATE_INTENT, "client order id already used")
            return
        self.orders.add(LiveOrder(
            client_order_id=command.client_order_id, intent_id=command.intent_id,
            strategy_id=command.strategy_id, symbol=command.symbol, side=command.side, qty=command.qty,
            price_e4=command.price_e4, last_intent_id=command.intent_id,
        ))
        sent_ns = self.clock.mono_ns()
        self.broker.place(command)
        self._sent(command, "place", sent_ns)

    def _amend(self, order: LiveOrder, command: OrderCommand) -> None:
        if order.cancel_pending or order.status is OrderStatus.PENDING_NEW:
            self._refuse(command, Reason.UNKNOWN_ORDER, f"order is {order.status}, not amendable now")
            return
        order.pending_price_e4 = command.price_e4
        order.last_intent_id = command.intent_id
        sent_ns = self.clock.mono_ns()
        self.broker.amend_price(order.client_order_id, command.price_e4)
        self._sent(command, "update_price", sent_ns)

    def _cancel(self, order: LiveOrder, command: OrderCommand) -> None:
        if order.cancel_pending:
            self.metrics.duplicate_cancels.inc()
            return
        order.cancel_pending = True
        order.last_intent_id = command.intent_id
        sent_ns = self.clock.mono_ns()
        self.broker.cancel(order.client_order_id)
        self._sent(command, "cancel", sent_ns)

    def _sent(self, command: OrderCommand, action: str, sent_ns: int) -> None:
        latency_ns = sent_ns - command.ingest_ts_ns
        self.latency.record(latency_ns)
        self.usage.record()
        self.metrics.tick_to_trade.observe(latency_ns)
        self.metrics.actions[action].inc()

    def _refuse(self, command: OrderCommand, reason: Reason, detail: str) -> None:
        self.metrics.refused.labels(reason).inc()
        order = self.orders.get(command.client_order_id)
        self._report(
            ExecutionReport(
                seq=0, client_order_id=command.client_order_id,
                intent_id=command.intent_id, strategy_id=command.strategy_id, symbol=command.symbol,
                side=command.side, exec_type=_REJECT_FOR[command.action],
                # A refused duplicate NEW must not read as the end of the live order with its id.
                status=order.status if order is not None else OrderStatus.REJECTED,
                price_e4=command.price_e4, qty=command.qty,
                cum_qty=order.cum_qty if order is not None else 0,
                leaves_qty=order.leaves_qty if order is not None else 0,
                reason=reason, detail=detail, ts_ns=self.clock.wall_ns(),
            )
        )

    def on_broker_event(self, event: BrokerEvent) -> None:
        order = self.orders.get(event.client_order_id)
        if order is None:
            self.log.warning("broker_event_for_unknown_order", client_order_id=event.client_order_id,
                             exec_type=event.kind, reason=Reason.UNKNOWN_ORDER)
            return
        kind = event.kind
        if event.broker_order_id:
            order.broker_order_id = event.broker_order_id
        last_price_e4 = last_qty = 0
        reason: Reason | None = None
        if kind is ExecType.FILL:
            order.cum_qty += event.qty
            last_price_e4, last_qty = event.price_e4, event.qty
            order.status = OrderStatus.FILLED if order.cum_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
            self.metrics.fills.inc()
        elif kind is ExecType.AMENDED:
            order.price_e4 = event.price_e4
            order.pending_price_e4 = None
        elif kind is ExecType.AMEND_REJECT:
            order.pending_price_e4 = None
            reason = Reason.BROKER_REJECT
        elif kind is ExecType.CANCEL_REJECT:
            order.cancel_pending = False
            reason = Reason.BROKER_REJECT
        else:
            order.status = _STATUS_AFTER[kind]
            if kind is ExecType.REJECT:
                reason = Reason.BROKER_REJECT
        report = ExecutionReport(
            seq=0, client_order_id=order.client_order_id,
            intent_id=order.intent_id if kind in (ExecType.ACK, ExecType.REJECT) else order.last_intent_id,
            strategy_id=order.strategy_id, symbol=order.symbol, side=order.side, exec_type=kind,
            status=order.status, price_e4=order.price_e4, qty=order.qty, cum_qty=order.cum_qty,
            leaves_qty=order.leaves_qty, last_price_e4=last_price_e4, last_qty=last_qty, reason=reason,
            detail=event.detail, broker_order_id=order.broker_order_id, ts_ns=self.clock.wall_ns(),
        )
        if order.status in TERMINAL_STATUSES:
            self.orders.close(order)
        self._report(report)

    def on_stormguard(self, state: StormGuardState) -> None:
        self.stormguard_level = state.global_level

    def _report(self, report: ExecutionReport) -> None:
        self.sink.send(report)
        self.metrics.reports[report.exec_type].inc()
        if report.reason is not None or report.exec_type is ExecType.FILL:
            self.log.info(
                f"order_{report.exec_type}", intent_id=report.intent_id, strategy_id=report.strategy_id,
                client_order_id=report.client_order_id, reason=report.reason, detail=report.detail,
                last_qty=report.last_qty, last_price_e4=report.last_price_e4,
                stormguard_state=self.stormguard_level,
            )
