"""The ExecutionReports the order manager writes: for an order it tracks, or for a command it refuses.

Each report goes to the ReportWriter (journaled with the state change it reports, published at the
flush), is counted by exec type, and logged when it carries a reason or a fill.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from contracts.enums import ExecType, IntentAction, OrderStatus, Reason, StormGuardLevel
from contracts.messages import ExecutionReport, OrderCommand
from services.adapter.metrics import AdapterMetrics
from services.adapter.order_map import LiveOrder, OrderMap
from services.adapter.reports import ReportWriter
from services.runtime.clock import Clock

_REJECT_FOR = {
    IntentAction.NEW: ExecType.REJECT,
    IntentAction.AMEND: ExecType.AMEND_REJECT,
    IntentAction.CANCEL: ExecType.CANCEL_REJECT,
}


class OrderReports:
    def __init__(
        self,
        clock: Clock,
        writer: ReportWriter,
        orders: OrderMap,
        metrics: AdapterMetrics,
        log: structlog.stdlib.BoundLogger,
        level_of: Callable[[str], StormGuardLevel],
    ) -> None:
        self.clock = clock
        self.writer = writer
        self.orders = orders
        self.metrics = metrics
        self.log = log
        self.level_of = level_of  # a strategy's StormGuard level, for the log line

    def refuse(self, command: OrderCommand, reason: Reason, detail: str) -> None:
        """Answer a command the adapter will not carry out."""
        self.metrics.refused.labels(reason).inc()
        order = self.orders.get(command.client_order_id)
        self.write(ExecutionReport(
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

    def order(self, order: LiveOrder, exec_type: ExecType, *, reason: Reason | None = None,
              detail: str = "", status: OrderStatus | None = None) -> None:
        """A report about the order's own life: an ACK or REJECT answers its NEW, the rest its newest command."""
        intent_id = order.intent_id if exec_type in (ExecType.ACK, ExecType.REJECT) else order.last_intent_id
        self.report(order, exec_type, intent_id=intent_id, reason=reason, detail=detail, status=status)

    def report(self, order: LiveOrder, exec_type: ExecType, *, intent_id: str | None = None,
               last_price_e4: int = 0, last_qty: int = 0, reason: Reason | None = None, detail: str = "",
               status: OrderStatus | None = None) -> None:
        self.write(ExecutionReport(
            seq=0, client_order_id=order.client_order_id,
            intent_id=intent_id if intent_id is not None else order.last_intent_id,
            strategy_id=order.strategy_id, symbol=order.symbol, side=order.side, exec_type=exec_type,
            status=status if status is not None else order.status, price_e4=order.broker_price_e4, qty=order.qty,
            cum_qty=order.cum_qty, leaves_qty=0 if status is OrderStatus.REJECTED else order.leaves_qty,
            last_price_e4=last_price_e4, last_qty=last_qty, reason=reason, detail=detail,
            broker_order_id=order.broker_order_id, ts_ns=self.clock.wall_ns(),
        ))

    def write(self, report: ExecutionReport) -> None:
        self.writer.write(report)
        self.metrics.reports[report.exec_type].inc()
        if report.reason is not None or report.exec_type is ExecType.FILL:
            self.log.info(
                f"order_{report.exec_type}", intent_id=report.intent_id, strategy_id=report.strategy_id,
                client_order_id=report.client_order_id, reason=report.reason, detail=report.detail,
                last_qty=report.last_qty, last_price_e4=report.last_price_e4,
                stormguard_state=self.level_of(report.strategy_id),
            )
