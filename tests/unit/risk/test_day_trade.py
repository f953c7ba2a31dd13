"""The day-trade sell tax of shares, bought first and sold first, and the per-strategy commission discount, as
PnlBook and risk charge them.

Figures worked by hand in TWD: one lot of a stock at 1000 is 1,000,000 TWD; commission 0.1425 % is 1425, the
normal sell tax 0.3 % is 3000 and the day-trade rate 0.15 % is 1500.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from contracts.enums import DayTrade, InstrumentKind, Side
from contracts.messages import InstrumentRef
from contracts.prices import to_e4
from services.risk.engine import RiskEngine
from services.risk.pnl import PnlBook
from services.risk.state_file import load_state, save_state
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import CostConfig
from tests.unit.risk.test_desk_state import CAPITAL, DAY, NEXT_DAY, SECOND, fill, taipei_ns
from tests.unit.risk.test_engine import INSTRUMENTS, limits

COMMISSION = to_e4(1425)
NORMAL_TAX = to_e4(3000)
DAY_TRADE_TAX = to_e4(1500)


def stock(day_trade: DayTrade | None = DayTrade.YES, kind: InstrumentKind = InstrumentKind.STOCK) -> InstrumentRef:
    price = to_e4("1000")
    return InstrumentRef(symbol="2330", kind=kind, reference_e4=price, limit_up_e4=price * 11 // 10,
                         limit_down_e4=price * 9 // 10, unit=1000, day_trade=day_trade)


def book(day: str = "2026-12-07", costs: CostConfig | None = None, day_trade: DayTrade | None = DayTrade.YES,
         kind: InstrumentKind = InstrumentKind.STOCK) -> PnlBook:
    pnl = PnlBook({"2330": stock(day_trade, kind)}, costs or CostConfig())
    pnl.set_day(day)
    return pnl


def at_1000(_symbol: str) -> int:
    return to_e4("1000")


def trade(pnl: PnlBook, side: Side, qty: int = 1) -> None:
    pnl.on_fill("mm1", "2330", side, qty, to_e4("1000"))


def test_a_same_day_buy_then_sell_pays_the_day_trade_rate() -> None:
    pnl = book()
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + DAY_TRADE_TAX


def test_a_sell_of_a_carried_position_pays_the_normal_rate() -> None:
    pnl = book()
    trade(pnl, Side.BUY)
    pnl.set_day("2026-12-08")
    pnl.start_day(at_1000)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == COMMISSION + NORMAL_TAX


def test_a_sell_of_carried_and_today_lots_splits_today_first() -> None:
    pnl = book()
    trade(pnl, Side.BUY, 2)
    pnl.start_day(at_1000)
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL, 3)  # 1 lot bought today at 0.15 %, the 2 carried at 0.3 %
    assert pnl.costs_e4("mm1") == COMMISSION + 3 * COMMISSION + 2 * NORMAL_TAX + DAY_TRADE_TAX
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    trade(pnl, Side.SELL)  # a short sell: nothing bought today is left to close
    assert pnl.costs_e4("mm1") == 7 * COMMISSION + 3 * NORMAL_TAX + 2 * DAY_TRADE_TAX


def test_the_tax_of_a_split_fill_is_floored_once() -> None:
    pnl = PnlBook({"2330": stock()}, CostConfig(commission_discount=Decimal("0.5")))
    pnl.set_day("2026-12-07")
    pnl.on_fill("mm1", "2330", Side.BUY, 1, to_e4("10.3"))
    pnl.start_day(lambda _symbol: to_e4("10.3"))
    pnl.on_fill("mm1", "2330", Side.BUY, 1, to_e4("10.3"))
    before = pnl.costs_e4("mm1")
    pnl.on_fill("mm1", "2330", Side.SELL, 2, to_e4("10.3"))
    # 20,600 TWD: commission 14.68 → 20 (the minimum); tax 10,300 × 0.3 % + 10,300 × 0.15 % = 30.9 + 15.45 → 46
    # (floored apart it would be 45)
    assert pnl.costs_e4("mm1") - before == to_e4(20 + 46)


@pytest.mark.parametrize(("day", "tax"), [("2027-12-31", DAY_TRADE_TAX), ("2028-01-03", NORMAL_TAX)])
def test_the_day_trade_rate_ends_with_the_rule(day: str, tax: int) -> None:
    pnl = book(day)
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + tax


def test_the_rate_and_its_end_date_are_configurable() -> None:
    pnl = book("2030-06-03", CostConfig(day_trade_sell_tax_pct=Decimal("0.1"), day_trade_tax_until=date(2030, 12, 31)))
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + to_e4(1000)


@pytest.mark.parametrize(("day_trade", "when_unknown", "tax"), [
    (DayTrade.YES, False, DAY_TRADE_TAX),
    (DayTrade.ONLY_BUY, False, DAY_TRADE_TAX),  # buy first, sell later: the kind of day trade it allows
    (DayTrade.NO, True, NORMAL_TAX),
    (None, False, NORMAL_TAX),
    (None, True, DAY_TRADE_TAX),
])
def test_only_a_stock_that_may_be_day_traded_pays_the_day_trade_rate(
        day_trade: DayTrade | None, when_unknown: bool, tax: int) -> None:
    pnl = book(costs=CostConfig(day_trade_when_unknown=when_unknown), day_trade=day_trade)
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + tax


def test_an_etf_day_trade_pays_the_fund_rate() -> None:
    pnl = book(kind=InstrumentKind.ETF)
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + to_e4(1000)


# Sold first: the sell pays the normal rate, the buy back the same day is credited the difference.

def test_a_sell_first_day_trade_ends_at_the_day_trade_rate() -> None:
    pnl = book()
    trade(pnl, Side.SELL)
    assert pnl.costs_e4("mm1") == COMMISSION + NORMAL_TAX, "not known yet to be a day trade"
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + DAY_TRADE_TAX
    assert pnl.realized_e4("mm1") == -(2 * COMMISSION + DAY_TRADE_TAX)


def test_each_buy_credits_the_lots_it_covers() -> None:
    pnl = book()
    trade(pnl, Side.SELL, 3)
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 4 * COMMISSION + 2 * NORMAL_TAX + DAY_TRADE_TAX
    trade(pnl, Side.BUY, 3)  # two lots cover the rest of the short, the third is a plain buy
    assert pnl.costs_e4("mm1") == 7 * COMMISSION + 3 * DAY_TRADE_TAX


def test_the_covered_sell_is_taxed_as_one_fill_floored_once() -> None:
    pnl = book()
    pnl.on_fill("mm1", "2330", Side.SELL, 2, to_e4("10.3"))
    pnl.on_fill("mm1", "2330", Side.BUY, 1, to_e4("10.3"))
    pnl.on_fill("mm1", "2330", Side.BUY, 1, to_e4("10.5"))
    # The sell, 20,600 TWD: commission 29.355 → 29, tax 61.8 → 61, then with one lot a day trade 46.35 → 46
    # (credit 15), then both 30.9 → 30 (credit 16): what the exchange charges a 2-lot sell-first day trade.
    # Each buy: commission 14.6775 (14.9625) → the minimum 20.
    assert pnl.costs_e4("mm1") == to_e4(29 + 30 + 20 + 20)


def test_a_buy_that_covers_a_short_is_not_bought_today() -> None:
    pnl = book()
    trade(pnl, Side.SELL)
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL)  # short again: no lot bought today is left for it to close
    assert pnl.costs_e4("mm1") == 3 * COMMISSION + DAY_TRADE_TAX + NORMAL_TAX
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 4 * COMMISSION + 2 * DAY_TRADE_TAX


def test_a_sell_closing_todays_buys_and_going_short_is_credited_on_its_short_lots() -> None:
    pnl = book()
    trade(pnl, Side.BUY)
    trade(pnl, Side.SELL, 2)  # one lot bought first at 0.15 %, one short at 0.3 %
    assert pnl.costs_e4("mm1") == 3 * COMMISSION + DAY_TRADE_TAX + NORMAL_TAX
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 4 * COMMISSION + 2 * DAY_TRADE_TAX
    assert pnl.position("mm1", "2330") == 0


def test_selling_yesterdays_position_and_buying_it_back_is_no_day_trade() -> None:
    pnl = book()
    trade(pnl, Side.BUY, 2)
    pnl.start_day(at_1000)
    trade(pnl, Side.SELL, 3)  # two lots of yesterday's, one short
    trade(pnl, Side.BUY, 3)
    assert pnl.costs_e4("mm1") == 6 * COMMISSION + 2 * NORMAL_TAX + DAY_TRADE_TAX


def test_a_short_bought_back_the_next_day_keeps_the_normal_rate() -> None:
    pnl = book()
    trade(pnl, Side.SELL)
    pnl.set_day("2026-12-08")
    pnl.start_day(at_1000)
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == COMMISSION


@pytest.mark.parametrize(("day_trade", "when_unknown", "day", "tax"), [
    (DayTrade.YES, False, "2026-12-07", DAY_TRADE_TAX),
    (DayTrade.ONLY_BUY, False, "2026-12-07", NORMAL_TAX),  # bought first only: a short is not a day trade
    (DayTrade.NO, True, "2026-12-07", NORMAL_TAX),
    (None, False, "2026-12-07", NORMAL_TAX),
    (None, True, "2026-12-07", DAY_TRADE_TAX),
    (DayTrade.YES, False, "2028-01-03", NORMAL_TAX),  # past the rule's end
])
def test_only_a_stock_that_may_be_day_traded_sold_first_is_credited(
        day_trade: DayTrade | None, when_unknown: bool, day: str, tax: int) -> None:
    pnl = book(day, CostConfig(day_trade_when_unknown=when_unknown), day_trade=day_trade)
    trade(pnl, Side.SELL)
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + tax


def test_an_etf_sold_first_keeps_the_fund_rate() -> None:
    pnl = book(kind=InstrumentKind.ETF)
    trade(pnl, Side.SELL)
    trade(pnl, Side.BUY)
    assert pnl.costs_e4("mm1") == 2 * COMMISSION + to_e4(1000)


# Through risk: the fake clock's wall time is 2025-10-09 16:53:20 Taipei; fills stamped 09:10 that day.

def engine_on(clock: FakeClock, **overrides: object) -> RiskEngine:
    instruments = dict(INSTRUMENTS)
    instruments["2330"] = msgspec.structs.replace(instruments["2330"], day_trade=DayTrade.YES)
    return RiskEngine(clock, limits(capital_twd=CAPITAL, **overrides), instruments)


def test_what_was_bought_today_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = engine_on(clock)
    engine.on_execution(fill(Side.BUY, "1000", qty=2, seq=1))
    engine.on_execution(fill(Side.SELL, "1000", seq=2))
    save_state(tmp_path / "risk-state.json", engine.saved(exec_seq=2))

    state = load_state(tmp_path / "risk-state.json")
    assert state is not None and [h.day_bought for h in state.accounts[0].holdings] == [1]
    again = engine_on(FakeClock(mono_ns=7 * SECOND, wall_ns=clock.wall_ns() + 2 * SECOND))
    again.restore(state)
    assert again.trading_day == DAY
    again.on_execution(fill(Side.SELL, "1000", seq=3))
    assert again.pnl.costs_e4("mm1") == 4 * COMMISSION + 2 * DAY_TRADE_TAX


def test_a_short_sold_today_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = engine_on(clock)
    engine.on_execution(fill(Side.SELL, "1000", qty=2, seq=1))
    engine.on_execution(fill(Side.BUY, "1000", seq=2))
    save_state(tmp_path / "risk-state.json", engine.saved(exec_seq=2))

    state = load_state(tmp_path / "risk-state.json")
    assert state is not None
    assert [(s.qty, s.day_trade_qty, s.open_qty) for s in state.accounts[0].holdings[0].short_first] == [(2, 1, 1)]
    again = engine_on(FakeClock(mono_ns=7 * SECOND, wall_ns=clock.wall_ns() + 2 * SECOND))
    again.restore(state)
    again.on_execution(fill(Side.BUY, "1000", seq=3))
    assert again.pnl.costs_e4("mm1") == 4 * COMMISSION + 2 * DAY_TRADE_TAX, "both lots of the sell day trades"


def test_a_state_file_written_before_day_trades_still_loads(tmp_path: Path) -> None:
    engine = engine_on(FakeClock())
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    engine.on_execution(fill(Side.SELL, "1000", qty=2, seq=2))
    saved = msgspec.json.decode(msgspec.json.encode(engine.saved(exec_seq=2)))
    for account in saved["accounts"]:
        for holding in account["holdings"]:
            del holding["day_bought"], holding["short_first"]
    (tmp_path / "risk-state.json").write_bytes(msgspec.json.encode(saved))
    state = load_state(tmp_path / "risk-state.json")
    assert state is not None
    assert (state.accounts[0].holdings[0].day_bought, state.accounts[0].holdings[0].short_first) == (0, [])


def test_the_rollover_makes_today_buys_yesterdays() -> None:
    clock = FakeClock()
    engine = engine_on(clock)
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    clock.advance(taipei_ns(10, 8) - clock.wall_ns())
    engine.mark_to_market()
    assert engine.trading_day == NEXT_DAY
    engine.on_execution(fill(Side.SELL, "1000", seq=2, ts_ns=taipei_ns(10, 9, 5)))
    assert engine.pnl.costs_e4("mm1") == COMMISSION + NORMAL_TAX


def test_a_strategy_pays_its_own_commission_discount() -> None:
    engine = engine_on(FakeClock(), commission_discount=Decimal("0.28"))
    assert engine.pnl.costs_of("mm1").commission_discount == Decimal("0.28")
    assert engine.pnl.costs_of("off1") == CostConfig(), "a strategy without its own discount pays the desk's"
    engine.on_execution(fill(Side.BUY, "1000", seq=1))
    assert engine.pnl.costs_e4("mm1") == to_e4(399)  # 1425 × 0.28 = 399
