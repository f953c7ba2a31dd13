"""BrokerAnswers: what the broker says of an order (an event, a status answer) into its states and reports.

- A deal is applied once (by its deal id), before the ack too; a deal for an order already closed
  is still reported (the position is real); the late ack does not move a filled order back.
- An unresolved NEW (reported failed) that turns out live is cancelled at once; its fills are
  still reported; if the broker never saw it, it goes silently (already reported).
- A CANCEL_REJECT queries the order: the broker says it is not working, the answer says what it is.
- A status answer settles an order from the broker's numbers: missed fills (at the order's price),
  a cut whose answer never came, an ack never seen, its end; a wanted cancel is carried out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from contracts.enums import TERMINAL_STATUSES, ExecType, OrderStatus, Reason
from services.adapter.broker_calls import CallKind
from services.adapter.brokers.base import BrokerEvent, BrokerOrderState
from services.adapter.lifecycle import CancelStage, Submission, move_cancel, move_status
from services.adapter.order_map import LiveOrder

if TYPE_CHECKING:
    from services.adapter.order_manager import OrderManager

_event_encoder = msgspec.msgpack.Encoder()
_AT_THE_BROKER = frozenset({OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})


class BrokerAnswers:
    def __init__(self, manager: OrderManager) -> None:
        self.manager = manager
        self._handlers: dict[ExecType, Callable[[LiveOrder, BrokerEvent], None]] = {
            ExecType.ACK: self._on_ack,
            ExecType.REJECT: self._on_reject,
            ExecType.FILL: self._on_fill,
            ExecType.AMENDED: self._on_amended,
            ExecType.AMEND_REJECT: self._on_amend_reject,
            ExecType.CANCELLED: self._on_cancelled,
            ExecType.EXPIRED: self._on_cancelled,
            ExecType.CANCEL_REJECT: self._on_cancel_reject,
        }

    def event(self, event: BrokerEvent) -> None:
        manager = self.manager
        orders = manager.orders
        order = orders.get(event.client_order_id)
        closed = orders.closed(event.client_order_id) if order is None else None
        if closed is not None and event.kind is ExecType.FILL and event.exec_id not in closed.exec_ids:
            self._late_fill(closed, event)
            return
        if order is None:
            manager.metrics.late_events.inc()
            manager.log.info("broker_event_for_closed_order", client_order_id=event.client_order_id,
                             exec_type=event.kind, reason=Reason.TOO_LATE if orders.known(event.client_order_id)
                             else Reason.UNKNOWN_ORDER)
            return
        if event.kind is ExecType.FILL and event.exec_id:
            if event.exec_id in order.exec_ids:
                manager.metrics.duplicate_events.inc()
                return
            order.exec_ids.add(event.exec_id)
        manager.journal.record_event(order.client_order_id, event.kind, _event_encoder.encode(event))
        if event.broker_order_id:
            order.broker_order_id = event.broker_order_id
        order.updated_ns = manager.clock.wall_ns()
        self._handlers[event.kind](order, event)
        if order.status in TERMINAL_STATUSES:
            manager.close(order)
        else:
            manager.save(order)

    def status(self, state: BrokerOrderState) -> None:
        """A query's answer."""
        manager = self.manager
        manager.calls.settle(state.client_order_id, CallKind.QUERY)
        order = manager.orders.get(state.client_order_id)
        if order is None:
            manager.log.info("status_for_closed_order", client_order_id=state.client_order_id, status=state.status)
            return
        manager.journal.record_event(order.client_order_id, "status", _event_encoder.encode(state))
        self.apply_status(order, state)

    def _late_fill(self, order: LiveOrder, event: BrokerEvent) -> None:
        """A deal for an order already closed (Shioaji's deal and order streams are not ordered: an
        IOC's EXPIRED can come before its last deal). The position is real: report it."""
        manager = self.manager
        if event.exec_id:
            order.exec_ids.add(event.exec_id)
        manager.journal.record_event(order.client_order_id, event.kind, _event_encoder.encode(event))
        order.cum_qty += event.qty
        manager.metrics.fills.inc()
        manager.reports.report(order, ExecType.FILL, last_price_e4=event.price_e4, last_qty=event.qty,
                               detail="deal after the order was closed")

    def _on_ack(self, order: LiveOrder, event: BrokerEvent) -> None:
        manager = self.manager
        manager.calls.settle(order.client_order_id, CallKind.PLACE)
        manager.failures.broker_took_new()
        if order.status is OrderStatus.PENDING_NEW:
            move_status(order, OrderStatus.WORKING)
        if order.submission is Submission.UNRESOLVED:
            manager.log.warning("late_ack_cancelled", client_order_id=order.client_order_id,
                                intent_id=order.intent_id, strategy_id=order.strategy_id,
                                reason=Reason.BROKER_TIMEOUT, stormguard_state=manager.stormguard_level)
            manager.cancel(order, order.intent_id)
            return
        manager.reports.report(order, ExecType.ACK, intent_id=order.intent_id)
        if order.cancel is not CancelStage.NONE:
            manager.cancel(order, order.last_intent_id)
        else:
            manager.amends.send_unsent(order)

    def _on_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        manager = self.manager
        manager.calls.settle_all(order.client_order_id)
        move_status(order, OrderStatus.REJECTED)
        manager.failures.breaker_changed(manager.breaker.record_failure(f"broker reject: {event.detail}"))
        if order.submission is not Submission.UNRESOLVED:
            manager.reports.report(order, ExecType.REJECT, intent_id=order.intent_id, reason=Reason.BROKER_REJECT,
                                   detail=event.detail)

    def _on_fill(self, order: LiveOrder, event: BrokerEvent) -> None:
        manager = self.manager
        if manager.calls.settle(order.client_order_id, CallKind.PLACE) is not None:
            manager.failures.broker_took_new()  # a deal before the ack
        order.cum_qty += event.qty
        move_status(order, OrderStatus.FILLED if order.cum_qty >= order.qty else OrderStatus.PARTIALLY_FILLED)
        manager.metrics.fills.inc()
        manager.reports.report(order, ExecType.FILL, last_price_e4=event.price_e4, last_qty=event.qty,
                               detail=event.detail)
        if order.submission is Submission.UNRESOLVED and order.working and order.cancel is not CancelStage.PENDING:
            manager.cancel(order, order.intent_id)

    def _on_amended(self, order: LiveOrder, event: BrokerEvent) -> None:
        amends = self.manager.amends
        amends.answered(order, event)
        order.broker_price_e4 = event.price_e4 or order.broker_price_e4
        if event.qty:
            order.qty = event.qty
            if order.cum_qty >= order.qty:
                move_status(order, OrderStatus.FILLED)
        amends.settle_sent(order)
        self.manager.reports.order(order, ExecType.AMENDED, detail=event.detail)
        amends.send_unsent(order)

    def _on_amend_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        amends = self.manager.amends
        amends.answered(order, event)
        amends.settle_sent(order)
        amends.settle_target(order)
        self.manager.reports.order(order, ExecType.AMEND_REJECT, reason=Reason.BROKER_REJECT, detail=event.detail)
        amends.send_unsent(order)

    def _on_cancelled(self, order: LiveOrder, event: BrokerEvent) -> None:
        self.manager.calls.settle_all(order.client_order_id)
        move_status(order, OrderStatus.CANCELLED)
        self.manager.reports.order(order, event.kind, detail=event.detail)

    def _on_cancel_reject(self, order: LiveOrder, event: BrokerEvent) -> None:
        manager = self.manager
        manager.calls.settle(order.client_order_id, CallKind.CANCEL)
        if order.cancel is CancelStage.PENDING:
            move_cancel(order, CancelStage.WANTED)
        if order.submission is not Submission.UNRESOLVED:
            manager.reports.report(order, ExecType.CANCEL_REJECT, reason=Reason.BROKER_REJECT, detail=event.detail)
        manager.query(order)  # the broker says it is not working: learn what it is

    def apply_status(self, order: LiveOrder, state: BrokerOrderState) -> None:
        """Settle an order from what the broker says of it (a query's answer, or start-up reconciliation)."""
        manager = self.manager
        if state.status is None:
            self._resolve_missing(order)
            return
        if state.broker_order_id:
            order.broker_order_id = state.broker_order_id
        if order.status is OrderStatus.PENDING_NEW and state.status in _AT_THE_BROKER:
            manager.failures.broker_took_new()
        cut_settled = manager.amends.cut_found(order)
        if state.qty and state.qty < order.qty:
            order.qty = state.qty
            if cut_settled:
                manager.reports.order(order, ExecType.AMENDED, detail="quantity change found by a status query")
        if state.cum_qty > order.cum_qty:
            missed = state.cum_qty - order.cum_qty
            order.cum_qty = state.cum_qty
            move_status(order, OrderStatus.FILLED if order.cum_qty >= order.qty else OrderStatus.PARTIALLY_FILLED)
            manager.metrics.fills.inc()
            manager.reports.report(order, ExecType.FILL, last_price_e4=order.broker_price_e4, last_qty=missed,
                                   detail="fill found by a status query: price is the order's")
        unresolved = order.submission is Submission.UNRESOLVED
        if state.status in (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED):
            if order.status is OrderStatus.PENDING_NEW:
                move_status(order, OrderStatus.WORKING)
                if not unresolved:
                    manager.reports.report(order, ExecType.ACK, intent_id=order.intent_id,
                                           detail="ack found by a status query")
            if unresolved or order.cancel is not CancelStage.NONE or manager.kill_switch_on():
                manager.cancel(order, order.last_intent_id or order.intent_id)
        elif state.status is OrderStatus.CANCELLED and order.status is not OrderStatus.FILLED:
            move_status(order, OrderStatus.CANCELLED)
            manager.reports.order(order, ExecType.CANCELLED, detail="cancelled, found by a status query")
        elif state.status is OrderStatus.REJECTED:
            move_status(order, OrderStatus.REJECTED)
            if not unresolved:
                manager.reports.report(order, ExecType.REJECT, intent_id=order.intent_id,
                                       reason=Reason.BROKER_REJECT, detail="rejected, found by a status query")
        elif state.status is OrderStatus.FILLED:
            move_status(order, OrderStatus.FILLED)
        if order.status in TERMINAL_STATUSES:
            manager.close(order)
            return
        if cut_settled:
            manager.amends.send_unsent(order)  # leaves wanted meanwhile were held for this answer
        manager.save(order)

    def _resolve_missing(self, order: LiveOrder) -> None:
        """The broker has no such order: it never got there, or was lost with a restarted broker."""
        manager = self.manager
        manager.log.warning("order_not_at_broker", client_order_id=order.client_order_id, intent_id=order.intent_id,
                            strategy_id=order.strategy_id, reason=Reason.UNKNOWN_ORDER,
                            stormguard_state=manager.stormguard_level)
        if order.status is OrderStatus.PENDING_NEW:
            move_status(order, OrderStatus.REJECTED)
            if order.submission is not Submission.UNRESOLVED:
                manager.reports.report(order, ExecType.REJECT, intent_id=order.intent_id,
                                       reason=Reason.UNKNOWN_ORDER, detail="the broker has no such order")
        else:
            move_status(order, OrderStatus.CANCELLED)
            manager.reports.order(order, ExecType.CANCELLED, reason=Reason.UNKNOWN_ORDER,
                                  detail="the broker no longer has this order")
        manager.close(order)
