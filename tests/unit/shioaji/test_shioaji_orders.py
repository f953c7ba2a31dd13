"""Shioaji orders from OrderCommands, what update_order(qty=) is given, and SDK errors in broker terms."""

from __future__ import annotations

import msgspec
import pytest

from contracts.enums import PriceType, Side, TimeInForce
from services.adapter.brokers.base import BrokerError, BrokerOutcomeUnknown, BrokerRateLimited, BrokerSessionDown
from services.adapter.brokers.shioaji_errors import broker_error
from services.adapter.brokers.shioaji_orders import build_order, strategy_tag, update_qty_arg
from services.runtime.config.shioaji import ShioajiConfig
from services.shioaji.sdk import sj
from tests.unit.adapter.manager_harness import command
from tests.unit.shioaji.broker_harness import listings

STOCK_ACCOUNT = sj.Account(account_type=sj.AccountType.Stock, person_id="A", broker_id="9A95", account_id="1",
                           signed=True, username="u")
FUTURES_ACCOUNT = sj.Account(account_type=sj.AccountType.Future, person_id="A", broker_id="F002000",
                             account_id="2", signed=True, username="u")


def test_a_stock_new_becomes_a_common_lot_stock_order_for_the_stock_account() -> None:
    new = msgspec.structs.replace(command(qty=2, price="1005", tif=TimeInForce.IOC, strategy_id="mm_1.quoter"),
                                  side=Side.SELL)
    order = build_order(new, listings()["2330"].contract, STOCK_ACCOUNT, ShioajiConfig(simulation=True))
    assert isinstance(order, sj.StockOrder)
    assert (order.action, order.price, order.quantity, order.price_type, order.time_in_force) == (
        sj.Action.Sell, 1005.0, 2, sj.StockPriceType.LMT, sj.TimeInForce.IOC)
    assert (order.order_lot, order.order_cond, order.custom_field) == (
        sj.StockOrderLot.Common, sj.StockOrderCond.Cash, "mm1quo")
    assert order.account.account_id == "1"


def test_a_futures_new_becomes_a_futures_order_with_the_configured_octype() -> None:
    new = msgspec.structs.replace(command(qty=1), symbol="TXFL6", price_type=PriceType.MKT, tif=TimeInForce.IOC)
    config = ShioajiConfig(simulation=True, octype="DayTrade")
    order = build_order(new, listings()["TXFL6"].contract, FUTURES_ACCOUNT, config)
    assert isinstance(order, sj.FuturesOrder)
    assert (order.price_type, order.price, order.octype, order.account.account_id) == (
        sj.FuturesPriceType.MKT, 0.0, sj.FuturesOCType.DayTrade, "2")


@pytest.mark.parametrize("strategy_id, tag", [("mm1", "mm1"), ("momentum-7", "moment"), ("策略1", "1"), ("", "")])
def test_strategy_tag_fits_custom_field(strategy_id: str, tag: str) -> None:
    assert strategy_tag(strategy_id) == tag


def test_update_qty_arg_is_the_one_place_that_reads_qty() -> None:
    assert update_qty_arg("reduce_by", reduce_by=2, order_qty=5) == 2
    assert update_qty_arg("new_total", reduce_by=2, order_qty=5) == 3
    assert update_qty_arg("new_total", reduce_by=5, order_qty=5) == 0
    for reduce_by in (0, 6):
        with pytest.raises(ValueError, match="cannot take"):
            update_qty_arg("reduce_by", reduce_by=reduce_by, order_qty=5)


@pytest.mark.parametrize("error, kind", [
    (sj.TokenError("Token is expired"), BrokerRateLimited),
    (sj.OrderOutcomeUnknownError("409"), BrokerOutcomeUnknown),
    (sj.ResponseRecvError("channel closed"), BrokerOutcomeUnknown),
    (sj.ShioajiTimeoutError("late"), BrokerOutcomeUnknown),
    (sj.AuthError("not logged in"), BrokerSessionDown),
    (sj.ShioajiConnectionError("down"), BrokerSessionDown),
    (sj.SystemMaintenance("503"), BrokerSessionDown),
    (sj.ValidationError("422"), BrokerError),
])
def test_sdk_errors_in_broker_terms(error: Exception, kind: type[BrokerError]) -> None:
    mapped = broker_error(error)
    assert type(mapped) is kind
    assert type(error).__name__ in str(mapped)
