"""Shioaji's answers in the adapter's terms: order-callback messages into BrokerEvents, Trades (from
update_status and list_trades) into BrokerOrderStates.

Order events (OrderState StockOrder/FuturesOrder) carry `operation{op_type, op_code, op_msg}`: op_code
"00" is success, anything else a refusal whose reason is op_msg (often Chinese). Deal events
(StockDeal/FuturesDeal) carry the order's `trade_id` and the exchange's `exchange_seq`, which makes
the deal's exec_id (a deal delivered twice keeps it, and the order manager drops the second).

What the status fields mean is read off the SDK's documentation, not verified against a live server:
status.order_quantity is the quantity placed and status.cancel_quantity every lot taken off since
(by update_order(qty=) or cancel_order), so an order's quantity after a reduction is the first less
the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.enums import BrokerAction, ExecType, OrderStatus, PriceType, Side, TimeInForce
from services.adapter.brokers.base import BrokerEvent, BrokerOrderState
from services.shioaji.sdk import price_from_sdk, sj

OK_CODE = "00"

_STATUS = {
    "PendingSubmit": OrderStatus.WORKING,
    "PreSubmitted": OrderStatus.WORKING,
    "Submitted": OrderStatus.WORKING,
    "PartFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Failed": OrderStatus.REJECTED,
    "Inactive": OrderStatus.PENDING_NEW,
}
_DEAL_STATES = (sj.OrderState.StockDeal, sj.OrderState.FuturesDeal)


@dataclass(frozen=True, slots=True)
class OrderNotice:
    """An order event: what was done (op_type), whether it worked, and the order's figures after it."""

    trade_id: str
    op_type: str
    ok: bool
    op_msg: str
    price_e4: int
    modified_price_e4: int
    order_qty: int
    cancel_qty: int


@dataclass(frozen=True, slots=True)
class DealNotice:
    trade_id: str
    exec_id: str
    price_e4: int
    qty: int


Notice = OrderNotice | DealNotice


def parse_callback(state: Any, msg: Any) -> Notice:
    """The notice in one call of the order callback; ValueError when the message lacks what it needs."""
    try:
        if state in _DEAL_STATES:
            trade_id = str(msg["trade_id"])
            return DealNotice(trade_id, f"{trade_id}-{msg['exchange_seq']}", price_from_sdk(msg["price"]),
                              int(msg["quantity"]))
        operation, order, status = msg["operation"], msg["order"], msg["status"]
        return OrderNotice(
            trade_id=str(order["id"]), op_type=str(operation["op_type"]), ok=operation["op_code"] == OK_CODE,
            op_msg=str(operation.get("op_msg") or ""), price_e4=price_from_sdk(order["price"]),
            modified_price_e4=price_from_sdk(status.get("modified_price") or 0),
            order_qty=int(status.get("order_quantity") or order["quantity"]),
            cancel_qty=int(status.get("cancel_quantity") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{state}: unreadable order callback ({type(exc).__name__}: {exc}): {msg!r}") from exc


@dataclass(slots=True)
class OrderView:
    """What the broker knows of one order, which an event alone does not say."""

    client_order_id: str
    qty: int
    price_type: PriceType
    tif: TimeInForce
    cancel_requested: bool = False
    cancelled_qty: int = 0
    dealt_qty: int = 0


_AMEND_CALLS = {"UpdatePrice": BrokerAction.UPDATE_PRICE, "UpdateQty": BrokerAction.UPDATE_QTY}
"""Shioaji's op_type of an amend's answer, as the adapter's name of the call it answers."""


def order_event(view: OrderView, notice: OrderNotice) -> BrokerEvent:
    """The BrokerEvent an order event means for this order."""
    cid, trade_id, op = view.client_order_id, notice.trade_id, notice.op_type
    if op == "Reject" or (op == "New" and not notice.ok):
        return BrokerEvent(ExecType.REJECT, cid, trade_id, detail=notice.op_msg or "rejected by the exchange")
    if op == "New":
        return BrokerEvent(ExecType.ACK, cid, trade_id, notice.price_e4, notice.order_qty)
    if op == "Cancel":
        if not notice.ok:
            return BrokerEvent(ExecType.CANCEL_REJECT, cid, trade_id, detail=notice.op_msg)
        ended_by_exchange = not view.cancel_requested and (
            view.tif is not TimeInForce.ROD or view.price_type is PriceType.MKT)
        return BrokerEvent(ExecType.EXPIRED if ended_by_exchange else ExecType.CANCELLED, cid, trade_id,
                           qty=notice.cancel_qty - view.cancelled_qty,
                           detail=f"{view.tif} remainder" if ended_by_exchange else "")
    call = _AMEND_CALLS.get(op, "")
    if not notice.ok:
        return BrokerEvent(ExecType.AMEND_REJECT, cid, trade_id, detail=notice.op_msg, op=call)
    if op == "UpdatePrice":
        return BrokerEvent(ExecType.AMENDED, cid, trade_id, notice.modified_price_e4 or notice.price_e4, op=call)
    total = view.qty - notice.cancel_qty
    if total <= view.dealt_qty:
        return BrokerEvent(ExecType.CANCELLED, cid, trade_id, qty=notice.cancel_qty - view.cancelled_qty,
                           detail="quantity reduced to what was filled")
    return BrokerEvent(ExecType.AMENDED, cid, trade_id, qty=total, op=call)


def deal_event(view: OrderView, notice: DealNotice) -> BrokerEvent:
    return BrokerEvent(ExecType.FILL, view.client_order_id, notice.trade_id, notice.price_e4, notice.qty,
                       exec_id=notice.exec_id)


def trade_state(client_order_id: str, trade: Any) -> BrokerOrderState:
    """What a Trade says of its order. A cancelled order keeps its placed quantity (what it filled is its
    cum_qty); a working one has what reductions took off subtracted."""
    order, status = trade.order, trade.status
    kind = _STATUS[status.status.value]
    placed = int(status.order_quantity or order.quantity)
    taken_off = 0 if kind is OrderStatus.CANCELLED else int(status.cancel_quantity or 0)
    return BrokerOrderState(
        client_order_id, kind, order.id, trade.contract.code,
        Side.BUY if order.action == sj.Action.Buy else Side.SELL,
        price_from_sdk(status.modified_price or order.price), placed - taken_off, int(status.deal_quantity or 0),
    )
