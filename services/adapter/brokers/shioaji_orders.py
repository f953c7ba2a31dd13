"""Shioaji orders from OrderCommands: sj.StockOrder for stocks, sj.FuturesOrder for futures.

One NEW becomes one order of the contract's kind, for the account of that kind: action, price
(a float, as the SDK wants), quantity (board lots, or contracts), price type, time in force, and
for stocks Common lots with the configured order condition (Cash by default), for futures the
configured open/close type (Auto). custom_field carries a short strategy tag: the server accepts at
most 6 letters and digits, so the tag is the strategy id with everything else dropped, cut to 6.

`update_qty_arg` is the one place that decides what update_order(qty=) means.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.enums import PriceType, Side
from contracts.messages import OrderCommand
from services.runtime.config.shioaji import QtyMode, ShioajiConfig
from services.shioaji.sdk import price_to_sdk, sj

CUSTOM_FIELD_MAX = 6
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def is_future(contract: Any) -> bool:
    return contract.security_type == sj.SecurityType.Futures


def strategy_tag(strategy_id: str) -> str:
    """What fits in custom_field: at most 6 letters and digits of the strategy id."""
    return _NOT_ALNUM.sub("", strategy_id)[:CUSTOM_FIELD_MAX]


def build_order(command: OrderCommand, contract: Any, account: Any, config: ShioajiConfig) -> Any:
    """The SDK order for a NEW; `account` must be of the contract's kind."""
    action = sj.Action.Buy if command.side is Side.BUY else sj.Action.Sell
    price = price_to_sdk(command.price_e4) if command.price_type is PriceType.LMT else 0.0
    tif = sj.TimeInForce(command.tif.value)
    tag = strategy_tag(command.strategy_id)
    if is_future(contract):
        return sj.FuturesOrder(action=action, price=price, quantity=command.qty,
                               price_type=sj.FuturesPriceType(command.price_type.value), time_in_force=tif,
                               octype=sj.FuturesOCType(config.octype), custom_field=tag, account=account)
    return sj.StockOrder(action=action, price=price, quantity=command.qty,
                         price_type=sj.StockPriceType(command.price_type.value), time_in_force=tif,
                         order_lot=sj.StockOrderLot.Common, order_cond=sj.StockOrderCond(config.order_cond),
                         custom_field=tag, account=account)


def update_qty_arg(mode: QtyMode, *, reduce_by: int, order_qty: int) -> int:
    """What to pass as update_order(qty=) to take `reduce_by` lots off an order whose quantity is now
    `order_qty` (placed, less what earlier reductions took off; fills included). The docs disagree on
    whether qty is the amount to reduce by (the stock example's reading: the default) or the new total."""
    if reduce_by <= 0 or reduce_by > order_qty:
        raise ValueError(f"cannot take {reduce_by} off an order of {order_qty}")
    return reduce_by if mode == "reduce_by" else order_qty - reduce_by
