"""services.risk.pnl: positions, average cost, realized and unrealized PnL after Taiwan costs.

Every expected figure is worked out by hand in TWD; `twd()` turns it into TWD ×10⁴.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.enums import InstrumentKind, Side
from contracts.messages import InstrumentRef
from contracts.prices import to_e4
from services.risk.pnl import PnlBook
from services.runtime.config.strategy_limits import CostConfig

BUY, SELL = Side.BUY, Side.SELL


def twd(amount: str | int) -> int:
    """TWD as TWD ×10⁴."""
    return to_e4(amount)


def stock(symbol: str, reference: str, unit: int = 1000) -> InstrumentRef:
    ref = to_e4(reference)
    return InstrumentRef(symbol=symbol, kind=InstrumentKind.STOCK, reference_e4=ref, limit_up_e4=ref * 11 // 10,
                         limit_down_e4=ref * 9 // 10, unit=unit)


def future(symbol: str, reference: str, unit: int = 200) -> InstrumentRef:
    ref = to_e4(reference)
    return InstrumentRef(symbol=symbol, kind=InstrumentKind.FUTURE, reference_e4=ref, limit_up_e4=ref * 11 // 10,
                         limit_down_e4=ref * 9 // 10, unit=unit)


INSTRUMENTS = {
    "2330": stock("2330", "1000"),
    "2603": stock("2603", "100"),
    "0050": stock("0050", "50"),
    "TXF": future("TXF", "20000"),
}
NO_COSTS = CostConfig(stock_commission_pct=Decimal(0), min_stock_commission_twd=Decimal(0),
                      stock_sell_tax_pct=Decimal(0), futures_commission_twd=Decimal(0), futures_tax_pct=Decimal(0))


def book(costs: CostConfig | None = None, instruments: dict[str, InstrumentRef] | None = None) -> PnlBook:
    return PnlBook(instruments or INSTRUMENTS, costs or CostConfig())


def marks(**prices: str):
    return lambda symbol: to_e4(prices[symbol]) if symbol in prices else None


def no_mark(symbol: str) -> int | None:
    return None


# --- stocks -------------------------------------------------------------------------------------


def test_round_trip_2330_gross_and_after_full_rate_costs() -> None:
    pnl = book()
    pnl.on_fill("mm1", "2330", BUY, 2, to_e4("1000"))
    pnl.on_fill("mm1", "2330", SELL, 2, to_e4("1010"))
    assert pnl.position("mm1", "2330") == 0
    # (1010 - 1000) × 2 lots × 1000 shares
    assert pnl.gross_realized_e4("mm1") == twd(20_000)
    # buy 2,000,000 × 0.1425 % = 2850; sell 2,020,000 × 0.1425 % = 2878.5 → 2878; tax 2,020,000 × 0.3 % = 6060
    assert pnl.costs_e4("mm1") == twd(2850 + 2878 + 6060)
    assert pnl.realized_e4("mm1") == twd(20_000 - 11_788)
    assert pnl.unrealized_e4("mm1", marks(**{"2330": "990"})) == 0
    assert pnl.pnl_e4("mm1", no_mark) == twd(8212)


def test_round_trip_2330_with_discounted_commission() -> None:
    pnl = book(CostConfig(commission_discount=Decimal("0.28")))
    pnl.on_fill("mm1", "2330", BUY, 2, to_e4("1000"))
    assert pnl.costs_e4("mm1") == twd(798)  # 2850 × 0.28
    pnl.on_fill("mm1", "2330", SELL, 2, to_e4("1010"))
    # 2878.5 × 0.28 = 805.98 → 805, rounded down like the broker; tax is never discounted
    assert pnl.costs_e4("mm1") == twd(798 + 805 + 6060)
    assert pnl.realized_e4("mm1") == twd(20_000 - 7663)


def test_commission_is_charged_on_the_buy_and_reduces_realized_at_once() -> None:
    pnl = book()
    pnl.on_fill("mm1", "2330", BUY, 1, to_e4("1000"))
    assert pnl.gross_realized_e4("mm1") == 0
    assert pnl.costs_e4("mm1") == twd(1425)  # no tax on a buy
    assert pnl.realized_e4("mm1") == -twd(1425)
    assert pnl.pnl_e4("mm1", marks(**{"2330": "1005"})) == twd(5000 - 1425)


def test_minimum_commission_on_a_small_fill() -> None:
    pnl = book()
    pnl.on_fill("mm1", "0050", BUY, 1, to_e4("10"))
    # 10,000 × 0.1425 % = 14.25, below the 20 TWD minimum
    assert pnl.costs_e4("mm1") == twd(20)
    pnl.on_fill("mm1", "0050", SELL, 1, to_e4("10.05"))
    # 10,050 × 0.1425 % = 14.32 → minimum 20; tax 10,050 × 0.3 % = 30.15 → 30
    assert pnl.costs_e4("mm1") == twd(20 + 20 + 30)
    assert pnl.realized_e4("mm1") == twd(50 - 70)


def test_minimum_applies_after_the_discount() -> None:
    pnl = book(CostConfig(commission_discount=Decimal("0.28")))
    pnl.on_fill("mm1", "0050", BUY, 1, to_e4("50"))  # 50,000 × 0.1425 % × 0.28 = 19.95 → 19 → 20
    assert pnl.costs_e4("mm1") == twd(20)
    pnl.on_fill("mm2", "2603", BUY, 1, to_e4("100"))  # 100,000 × 0.1425 % × 0.28 = 39.9 → 39
    assert pnl.costs_e4("mm2") == twd(39)


def test_odd_lot_instrument_of_five_shares() -> None:
    pnl = book(instruments={"2330": stock("2330", "1000", unit=1)})
    pnl.on_fill("odd", "2330", BUY, 5, to_e4("1000"))  # 5,000 × 0.1425 % = 7.125 → minimum 20
    pnl.on_fill("odd", "2330", SELL, 5, to_e4("1010"))  # 5,050: commission 7.19 → 20, tax 15.15 → 15
    assert pnl.gross_realized_e4("odd") == twd(50)
    assert pnl.costs_e4("odd") == twd(55)
    assert pnl.realized_e4("odd") == -twd(5)


def test_partial_closes_realize_against_the_average_cost() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("mm1", "2603", BUY, 3, to_e4("100"))
    pnl.on_fill("mm1", "2603", BUY, 1, to_e4("104"))  # average (300 + 104) / 4 = 101
    assert pnl.position("mm1", "2603") == 4
    assert pnl.unrealized_e4("mm1", marks(**{"2603": "101"})) == 0
    pnl.on_fill("mm1", "2603", SELL, 1, to_e4("105"))
    assert pnl.gross_realized_e4("mm1") == twd(4000)  # (105 - 101) × 1000
    pnl.on_fill("mm1", "2603", SELL, 2, to_e4("99"))
    assert pnl.gross_realized_e4("mm1") == twd(4000 - 4000)  # (99 - 101) × 2000
    assert pnl.position("mm1", "2603") == 1
    assert pnl.unrealized_e4("mm1", marks(**{"2603": "102"})) == twd(1000)  # the last lot still costs 101


def test_an_average_cost_that_is_not_a_whole_price_never_drifts() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("mm1", "2603", BUY, 1, to_e4("100"))
    pnl.on_fill("mm1", "2603", BUY, 2, to_e4("101"))  # average 100.666…
    pnl.on_fill("mm1", "2603", SELL, 1, to_e4("101"))
    assert pnl.gross_realized_e4("mm1") == twd("333.3334")  # a third of the basis, the remainder stays open
    pnl.on_fill("mm1", "2603", SELL, 2, to_e4("101"))
    assert pnl.gross_realized_e4("mm1") == twd(1000)  # the whole trip exact: (101 × 3 - 302) × 1000


def test_position_flips_from_long_to_short_and_back() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("mm1", "2603", BUY, 2, to_e4("100"))
    pnl.on_fill("mm1", "2603", SELL, 5, to_e4("110"))
    assert pnl.position("mm1", "2603") == -3
    assert pnl.gross_realized_e4("mm1") == twd(20_000)  # only the 2 closed lots realize
    # the 3 short lots opened at 110
    assert pnl.unrealized_e4("mm1", marks(**{"2603": "108"})) == twd(6000)
    pnl.on_fill("mm1", "2603", BUY, 4, to_e4("105"))
    assert pnl.position("mm1", "2603") == 1
    assert pnl.gross_realized_e4("mm1") == twd(20_000 + 15_000)  # (110 - 105) × 3000
    assert pnl.unrealized_e4("mm1", marks(**{"2603": "106"})) == twd(1000)  # 1 long from 105


def test_flip_is_charged_once_on_the_whole_fill() -> None:
    pnl = book()
    pnl.on_fill("mm1", "2603", BUY, 2, to_e4("100"))  # 200,000 × 0.1425 % = 285
    pnl.on_fill("mm1", "2603", SELL, 5, to_e4("110"))  # 550,000: commission 783.75 → 783, tax 1650
    assert pnl.costs_e4("mm1") == twd(285 + 783 + 1650)


# --- futures ------------------------------------------------------------------------------------


def test_futures_round_trip_txf() -> None:
    pnl = book()
    pnl.on_fill("fut", "TXF", BUY, 1, to_e4("20000"))
    # 50 TWD per contract; tax 20000 × 200 = 4,000,000 × 0.002 % = 80
    assert pnl.costs_e4("fut") == twd(50 + 80)
    pnl.on_fill("fut", "TXF", SELL, 1, to_e4("20050"))
    # 50 points × 200 TWD; sell tax 4,010,000 × 0.002 % = 80.2 → 80, no securities tax on futures
    assert pnl.gross_realized_e4("fut") == twd(10_000)
    assert pnl.costs_e4("fut") == twd(50 + 80 + 50 + 80)
    assert pnl.realized_e4("fut") == twd(10_000 - 260)


def test_futures_commission_is_per_contract() -> None:
    pnl = book(CostConfig(futures_commission_twd=Decimal("35"), futures_tax_pct=Decimal(0)))
    pnl.on_fill("fut", "TXF", SELL, 3, to_e4("20000"))
    assert pnl.costs_e4("fut") == twd(105)


def test_futures_short_marked_to_market() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("fut", "TXF", SELL, 2, to_e4("20000"))
    assert pnl.position("fut", "TXF") == -2
    assert pnl.unrealized_e4("fut", marks(TXF="19900")) == twd(40_000)  # 100 points × 200 × 2
    assert pnl.unrealized_e4("fut", marks(TXF="20010")) == -twd(4000)


# --- marking and totals -------------------------------------------------------------------------


def test_symbol_without_a_mark_contributes_nothing() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("mm1", "2330", BUY, 1, to_e4("1000"))
    pnl.on_fill("mm1", "2603", BUY, 1, to_e4("100"))
    only_2603 = marks(**{"2603": "103"})
    assert pnl.unrealized_e4("mm1", only_2603) == twd(3000)
    assert pnl.unrealized_e4("mm1", no_mark) == 0


def test_totals_across_strategies() -> None:
    pnl = book()
    pnl.on_fill("mm1", "2330", BUY, 1, to_e4("1000"))  # commission 1425
    pnl.on_fill("fut", "TXF", SELL, 1, to_e4("20000"))  # 50 + 80
    mark = marks(**{"2330": "1010"}, TXF="20020")
    assert pnl.pnl_e4("mm1", mark) == twd(10_000 - 1425)
    assert pnl.pnl_e4("fut", mark) == twd(-4000 - 130)
    assert pnl.total_pnl_e4(mark) == twd(10_000 - 1425 - 4000 - 130)
    assert pnl.strategies() == {"mm1", "fut"}


def test_unknown_strategy_is_flat() -> None:
    pnl = book()
    assert pnl.position("nobody", "2330") == 0
    assert pnl.realized_e4("nobody") == 0
    assert pnl.costs_e4("nobody") == 0
    assert pnl.pnl_e4("nobody", no_mark) == 0
    assert pnl.total_pnl_e4(no_mark) == 0
    assert pnl.strategies() == set()


def test_positions_are_per_strategy() -> None:
    pnl = book(NO_COSTS)
    pnl.on_fill("a", "2603", BUY, 2, to_e4("100"))
    pnl.on_fill("b", "2603", SELL, 1, to_e4("100"))
    assert pnl.position("a", "2603") == 2
    assert pnl.position("b", "2603") == -1


@settings(max_examples=200, deadline=None)
@given(
    fills=st.lists(st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 7), st.integers(9000, 11000)),
                   max_size=30),
    mark_price=st.integers(9000, 11000),
)
def test_gross_pnl_is_exactly_the_cash_flow(fills: list[tuple[Side, int, int]], mark_price: int) -> None:
    """Realized + unrealized before costs equals sells - buys + the open position at the mark, to the 1/10,000."""
    pnl = book()
    unit = INSTRUMENTS["2603"].unit
    cash_e4, position = 0, 0
    for side, qty, tenth_twd in fills:
        price_e4 = tenth_twd * 1000
        pnl.on_fill("p", "2603", side, qty, price_e4)
        signed = qty if side is BUY else -qty
        cash_e4 -= signed * price_e4 * unit
        position += signed
    mark = mark_price * 1000
    assert pnl.position("p", "2603") == position
    assert pnl.gross_realized_e4("p") + pnl.unrealized_e4("p", lambda _: mark) == cash_e4 + position * mark * unit
    assert pnl.costs_e4("p") % 10_000 == 0  # costs are whole TWD
    assert pnl.costs_e4("p") >= 20 * 10_000 * len(fills)
