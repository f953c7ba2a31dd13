"""services.shioaji.kinds: the instrument kind of a Shioaji stock contract, by category, else by code; and
the fake exchange's rules for a kind and for the regulator's state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from contracts.enums import InstrumentKind
from contracts.messages import InstrumentRef
from services.runtime.config.instruments import InstrumentEntry
from services.shioaji.fake_exchange import DISPOSITION_ORDER_LOTS, TRADING_SUSPENDED, FakeExchange, listing_of
from services.shioaji.kinds import kind_of_stock_contract
from services.shioaji.sdk import sj


@pytest.mark.parametrize(
    ("category", "code", "kind"),
    [
        ("24", "2330", InstrumentKind.STOCK),
        ("17", "2890", InstrumentKind.STOCK),
        ("00", "0050", InstrumentKind.ETF),
        ("00", "00878", InstrumentKind.ETF),
        ("00", "00679B", InstrumentKind.ETF),
        (None, "00632R", InstrumentKind.ETF),
        ("", "01001T", InstrumentKind.ETF),
        ("00", "020000", InstrumentKind.ETN),
        (None, "020012", InstrumentKind.ETN),
        ("91", "9105", InstrumentKind.TDR),
        (None, "910322", InstrumentKind.TDR),
        (None, "030001", InstrumentKind.WARRANT),
        ("", "08123P", InstrumentKind.WARRANT),
        (None, "712345", InstrumentKind.WARRANT),
        (None, "6488", InstrumentKind.STOCK),
        ("", "2317", InstrumentKind.STOCK),
    ],
)
def test_kind_of_a_stock_contract(category: str | None, code: str, kind: InstrumentKind) -> None:
    assert kind_of_stock_contract(category, code) is kind


def place_in(ref: InstrumentRef, quantity: int) -> tuple[Any, str]:
    """Place a limit buy at the reference on a fake exchange listing `ref`: (status, op_msg)."""
    listing = listing_of(ref, "2026-11-26")
    exchange = FakeExchange({ref.symbol: listing}, qty_mode="reduce_by", max_deal_qty=0, wall_ns=lambda: 0)
    order = sj.StockOrder(action="Buy", price=listing.contract.reference, quantity=quantity, price_type="LMT",
                          time_in_force="ROD", order_lot="Common", order_cond="Cash")
    account = sj.Account(account_type=sj.AccountType.Stock, person_id="A", broker_id="9A95", account_id="1",
                         signed=True, username="u")
    trade, _ = exchange.place(listing.contract, order, account)
    return trade.status.status, trade.status.msg


def test_the_fake_exchange_refuses_a_suspended_stock_and_a_disposition_stocks_big_order() -> None:
    ref = InstrumentEntry(symbol="0050", kind=InstrumentKind.ETF, reference=Decimal("200.65")).to_ref()
    assert place_in(ref, 3)[0] == sj.OrderStatus.Submitted, "200.65 is on the ETF ladder"
    assert place_in(msgspec.structs.replace(ref, trading_suspended=True), 1) == (sj.OrderStatus.Failed,
                                                                                 TRADING_SUSPENDED)
    capped = msgspec.structs.replace(ref, disposition_level=1, disposition_max_lots_single_order=2)
    assert place_in(capped, 3) == (sj.OrderStatus.Failed, DISPOSITION_ORDER_LOTS)
    assert place_in(capped, 2)[0] == sj.OrderStatus.Submitted
