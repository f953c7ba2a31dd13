"""Shioaji's order and deal callbacks, and its Trades, read in the adapter's terms."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.enums import ExecType, OrderStatus, PriceType, Side, TimeInForce
from contracts.prices import to_e4
from services.adapter.brokers.shioaji_events import (
    DealNotice,
    OrderNotice,
    OrderView,
    deal_event,
    order_event,
    parse_callback,
    trade_state,
)
from services.shioaji.fake_objects import EventMessage, OrderResult, OrderStatusInfo, Trade
from services.shioaji.sdk import sj
from tests.unit.shioaji.broker_harness import listings


def order_msg(op_type: str, *, code: str = "00", op_msg: str = "", cancel_qty: int = 0, modified: float = 0.0,
              qty: int = 3) -> EventMessage:
    """An order event as the SDK's documentation shows it (stock, trade id 97b63e2f)."""
    return EventMessage({
        "operation": {"op_type": op_type, "op_code": code, "op_msg": op_msg},
        "order": {"id": "97b63e2f", "seqno": "267677", "ordno": "IM394", "action": "Buy", "price": 16.05,
                  "quantity": qty, "order_type": "ROD", "price_type": "LMT", "order_cond": "Cash",
                  "order_lot": "Common", "custom_field": "test"},
        "status": {"id": "97b63e2f", "exchange_ts": 1673576134.038, "modified_price": modified,
                   "cancel_quantity": cancel_qty, "order_quantity": qty, "web_id": "137"},
        "contract": {"security_type": "STK", "exchange": "TSE", "code": "2890"},
    })


DEAL = EventMessage({"trade_id": "97b63e2f", "seqno": "267677", "ordno": "IM394", "exchange_seq": "669915",
                     "broker_id": "9A95", "account_id": "1234567", "action": "Buy", "code": "2890",
                     "order_cond": "Cash", "order_lot": "Common", "price": 16.0, "quantity": 1, "web_id": "137",
                     "custom_field": "test", "ts": 1673577256.354})


def notice(msg: Any) -> OrderNotice:
    parsed = parse_callback(sj.OrderState.StockOrder, msg)
    assert isinstance(parsed, OrderNotice)
    return parsed


def view(**fields: Any) -> OrderView:
    return OrderView(**{"client_order_id": "c1", "qty": 3, "price_type": PriceType.LMT, "tif": TimeInForce.ROD,
                        **fields})


def test_deal_is_a_fill_whose_exec_id_survives_a_duplicate() -> None:
    parsed = parse_callback(sj.OrderState.StockDeal, DEAL)
    assert parsed == DealNotice("97b63e2f", "97b63e2f-669915", to_e4("16"), 1)
    event = deal_event(view(), parsed)
    assert (event.kind, event.client_order_id, event.price_e4, event.qty, event.exec_id) == (
        ExecType.FILL, "c1", to_e4("16"), 1, "97b63e2f-669915")
    assert parse_callback(sj.OrderState.StockDeal, dict(DEAL)).exec_id == event.exec_id


@pytest.mark.parametrize("msg, fields, expected", [
    (order_msg("New"), {}, (ExecType.ACK, to_e4("16.05"), 3, "")),
    (order_msg("New", code="88", op_msg="價格超過漲跌停範圍"), {}, (ExecType.REJECT, 0, 0, "價格超過漲跌停範圍")),
    (order_msg("Reject", code="00"), {}, (ExecType.REJECT, 0, 0, "rejected by the exchange")),
    (order_msg("UpdatePrice", modified=16.1), {}, (ExecType.AMENDED, to_e4("16.1"), 0, "")),
    (order_msg("UpdatePrice", code="88", op_msg="改價失敗"), {}, (ExecType.AMEND_REJECT, 0, 0, "改價失敗")),
    (order_msg("UpdateQty", cancel_qty=2), {}, (ExecType.AMENDED, 0, 1, "")),
    (order_msg("UpdateQty", cancel_qty=2), {"dealt_qty": 1},
     (ExecType.CANCELLED, 0, 2, "quantity reduced to what was filled")),
    (order_msg("Cancel", cancel_qty=3), {"cancel_requested": True}, (ExecType.CANCELLED, 0, 3, "")),
    (order_msg("Cancel", cancel_qty=3), {"cancelled_qty": 1, "cancel_requested": True},
     (ExecType.CANCELLED, 0, 2, "")),
    (order_msg("Cancel", cancel_qty=2), {"tif": TimeInForce.IOC}, (ExecType.EXPIRED, 0, 2, "IOC remainder")),
    (order_msg("Cancel", code="88", op_msg="委託已全部成交或已刪單"), {},
     (ExecType.CANCEL_REJECT, 0, 0, "委託已全部成交或已刪單")),
])
def test_order_event_in_broker_terms(msg: EventMessage, fields: dict[str, Any],
                                     expected: tuple[ExecType, int, int, str]) -> None:
    event = order_event(view(**fields), notice(msg))
    assert (event.kind, event.price_e4, event.qty, event.detail) == expected
    assert (event.client_order_id, event.broker_order_id) == ("c1", "97b63e2f")


@pytest.mark.parametrize("msg, op", [
    (order_msg("UpdatePrice", modified=16.1), "update_price"),
    (order_msg("UpdatePrice", code="88", op_msg="改價失敗"), "update_price"),
    (order_msg("UpdateQty", cancel_qty=2), "update_qty"),
    (order_msg("UpdateQty", code="88", op_msg="改量失敗"), "update_qty"),
    (order_msg("New"), ""),
    (order_msg("Cancel", cancel_qty=3), ""),
])
def test_an_amends_answer_names_the_call_it_answers(msg: EventMessage, op: str) -> None:
    """The adapter settles an amend's answer against a call of that kind only (a late price answer must not
    settle a cut on its way): Shioaji's op_type says which, and the event carries it."""
    assert order_event(view(cancel_requested=True), notice(msg)).op == op


def test_unreadable_callback_is_refused_with_what_it_lacks() -> None:
    with pytest.raises(ValueError, match=r"unreadable order callback.*'status'"):
        parse_callback(sj.OrderState.StockOrder, {"operation": {}, "order": {}})
    with pytest.raises(ValueError, match="exchange_seq"):
        parse_callback(sj.OrderState.FuturesDeal, {"trade_id": "x", "price": 1.0, "quantity": 1})


def trade(status: Any, *, deal: int = 0, cancel: int = 0, modified: float = 0.0) -> Trade:
    contract = listings()["2330"].contract
    order = OrderResult(id="t1", seqno="1", ordno="A1", action=sj.Action.Sell, price=1000.0, quantity=5,
                        time_in_force=sj.TimeInForce.ROD, order_type=sj.OrderType.ROD, price_type=sj.PriceType.LMT,
                        custom_field="mm1", account=None, daytrade_short=None, order_cond=None, order_lot=None,
                        octype=None)
    return Trade(contract, order, OrderStatusInfo(
        id="t1", status=status, status_code="00", web_id="137", order_datetime=None, msg="", modified_time=None,
        modified_price=modified, order_quantity=5, deal_quantity=deal, cancel_quantity=cancel, deals=()))


@pytest.mark.parametrize("status, fields, expected", [
    ("Submitted", {}, (OrderStatus.WORKING, 5, 0, to_e4("1000"))),
    ("PendingSubmit", {}, (OrderStatus.WORKING, 5, 0, to_e4("1000"))),
    ("PartFilled", {"deal": 2, "cancel": 1, "modified": 1005.0}, (OrderStatus.PARTIALLY_FILLED, 4, 2,
                                                                               to_e4("1005"))),
    ("Filled", {"deal": 5}, (OrderStatus.FILLED, 5, 5, to_e4("1000"))),
    ("Cancelled", {"deal": 2, "cancel": 3}, (OrderStatus.CANCELLED, 5, 2, to_e4("1000"))),
    ("Failed", {}, (OrderStatus.REJECTED, 5, 0, to_e4("1000"))),
    ("Inactive", {}, (OrderStatus.PENDING_NEW, 5, 0, to_e4("1000"))),
])
def test_trade_state(status: str, fields: dict[str, Any], expected: tuple[OrderStatus, int, int, int]) -> None:
    state = trade_state("c1", trade(sj.OrderStatus(status), **fields))
    assert (state.status, state.qty, state.cum_qty, state.price_e4) == expected
    assert (state.client_order_id, state.broker_order_id, state.symbol, state.side) == ("c1", "t1", "2330", Side.SELL)
