"""services.risk.costs: the sell's transaction tax by kind, as PnlBook charges it. Figures worked by hand in TWD."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.enums import InstrumentKind, Side
from contracts.messages import InstrumentRef
from contracts.prices import to_e4
from services.risk.costs import sell_tax_pct
from services.risk.pnl import PnlBook
from services.runtime.config.strategy_limits import CostConfig


def ref(kind: InstrumentKind, reference: str) -> InstrumentRef:
    price = to_e4(reference)
    return InstrumentRef(symbol="X", kind=kind, reference_e4=price, limit_up_e4=price * 11 // 10,
                         limit_down_e4=price * 9 // 10, unit=1000)


@pytest.mark.parametrize(("kind", "pct"), [
    (InstrumentKind.STOCK, "0.3"), (InstrumentKind.ETF, "0.1"), (InstrumentKind.ETN, "0.1"),
    (InstrumentKind.TDR, "0.1"), (InstrumentKind.WARRANT, "0.1"),
])
def test_the_tax_rate_of_each_kind(kind: InstrumentKind, pct: str) -> None:
    assert sell_tax_pct(CostConfig(), kind) == Decimal(pct)


def test_an_etf_sell_pays_a_tenth_of_a_percent_and_a_stock_sell_three() -> None:
    book = PnlBook({"0050": ref(InstrumentKind.ETF, "200.65"), "2317": ref(InstrumentKind.STOCK, "200.5")},
                   CostConfig())
    # 3 lots of 0050 at 200.65: 601,950 TWD; commission 0.1425 % = 857.77 → 857; tax 0.1 % = 601.95 → 601
    assert book.fill_costs_e4(book.instruments["0050"], Side.SELL, 3, to_e4("200.65")) == to_e4(857 + 601)
    assert book.fill_costs_e4(book.instruments["0050"], Side.BUY, 3, to_e4("200.65")) == to_e4(857)
    # 3 lots of 2317 at 200.5: 601,500 TWD; commission 857.13 → 857; tax 0.3 % = 1804.5 → 1804
    assert book.fill_costs_e4(book.instruments["2317"], Side.SELL, 3, to_e4("200.5")) == to_e4(857 + 1804)


def test_the_fund_rate_is_configurable() -> None:
    book = PnlBook({"0050": ref(InstrumentKind.ETF, "100")}, CostConfig(fund_sell_tax_pct=Decimal("0"),
                                                                          commission_discount=Decimal("0.5")))
    # 100,000 TWD × 0.1425 % × 0.5 = 71.25 → 71; no tax
    assert book.fill_costs_e4(book.instruments["0050"], Side.SELL, 1, to_e4("100")) == to_e4(71)
