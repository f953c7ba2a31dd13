"""PnlBook: each strategy's realized and unrealized PnL, after Taiwan trading costs, from its fills.

Risk feeds every fill here and hands the result to StormGuard, whose drawdown is measured on
realized + unrealized PnL, so a strategy that churns is judged on what it really keeps.

What is counted, per (strategy, symbol): a signed position (lots or contracts) and its cost basis;
a fill that reduces or flips the position realizes the difference between its price and the
average cost of the part it closes. Every fill is charged its costs at once:
- stocks: commission of stock_commission_pct % of the notional times commission_discount (the
  strategy's own, else the desk's), both sides, at least min_stock_commission_twd per fill (20 TWD
  by default); securities transaction tax on sells, stock_sell_tax_pct % for shares and
  fund_sell_tax_pct % for ETFs, ETNs, TDRs and warrants (services.risk.costs), except on the lots
  of a share sell that are one side of a day trade, which pay day_trade_sell_tax_pct % (while the
  rule is in force and the stock may be day traded that way). Bought first: per (strategy, symbol)
  the lots bought today not yet sold today; a sell closes those first, at the day-trade rate. Sold
  first: the lots of a sell that neither close today's buys nor sell the long position open a
  short, and when the sell comes no one knows whether it will be bought back today, so it pays
  the normal rate; a buy the same trading day covers those lots first (oldest sell first) and is
  credited the difference, so the sell ends charged what the exchange charges: the tax of the
  whole fill with its covered lots at the day-trade rate, floored once, as if known at the sell.
  Only what a buy does not cover counts as bought today. A sell of yesterday's position pays the
  normal rate, and buying it back is no day trade (a sell-first day trade is a short sold as such).
  These two are the only per-day state, saved with the holdings and cleared at the rollover: a short
  not bought back the same day keeps the normal rate;
- futures: futures_commission_twd per contract and futures_tax_pct % of the notional, both sides.
Notional is price × qty × instrument.unit (1000 shares per lot, or TWD per index point).
Brokers and the exchange round commission and tax down to whole TWD, so every cost is floored to
whole TWD before the minimum applies. All money is kept as integers in TWD ×10⁴ (`_e4`, like
prices), so sums never drift; costs are always whole TWD. Unrealized PnL does not anticipate the
costs of closing: they are charged when the closing fill comes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from contracts.enums import InstrumentKind, Side
from contracts.market_rules import notional_e4
from contracts.messages import InstrumentRef
from contracts.prices import PRICE_SCALE
from services.risk.costs import day_trade_tax_pct, sell_tax_pct
from services.risk.state_file import SavedAccount, SavedHolding, SavedShortFirstSell
from services.runtime.config.strategy_limits import CostConfig

Mark = Callable[[str], int | None]


@dataclass
class _ShortFirstSell:
    """One sell fill that went short today, and how far buys have covered it."""

    price_e4: int
    qty: int
    """The whole fill's lots: its tax is floored over all of them together."""
    day_trade_qty: int
    """Of them, the lots charged the day-trade rate so far: today's buys it closed, then the lots covered."""
    open_qty: int
    """Lots still short that a buy today would cover."""


@dataclass
class _Position:
    qty: int = 0
    basis_e4: int = 0
    """Signed cost of the open position (Σ signed qty × price × unit), so average cost = basis / (qty × unit)."""
    day_bought: int = 0
    """Lots bought this trading day and not yet sold this trading day: what a sell may close as a day trade."""
    short_first: list[_ShortFirstSell] = field(default_factory=list)
    """This trading day's sells that went short in a stock that may be day traded sold first, oldest first,
    while some of their lots are not bought back: what a buy may cover as a sell-first day trade."""


@dataclass
class _Account:
    positions: dict[str, _Position]
    gross_realized_e4: int = 0
    costs_e4: int = 0


def _floor_twd_e4(amount: Fraction) -> int:
    """An amount in TWD, rounded down to whole TWD, as TWD ×10⁴."""
    return math.floor(amount) * PRICE_SCALE


def _pct(value: Decimal) -> Fraction:
    return Fraction(value) / 100


class PnlBook:
    def __init__(self, instruments: dict[str, InstrumentRef], costs: CostConfig,
                 strategy_costs: dict[str, CostConfig] | None = None) -> None:
        # Kept by reference: the owner may add instruments later and this book sees them.
        self.instruments = instruments
        self.costs = costs
        self.strategy_costs = strategy_costs or {}
        """A strategy's own costs (its broker discount), where they differ from the desk's."""
        self.trading_day: date | None = None
        """The trading day fills are of, for the day-trade rule's end date; None while not known."""
        self._accounts: dict[str, _Account] = {}

    def set_day(self, day: str) -> None:
        """The trading day (YYYY-MM-DD, "" if not known) the next fills are of."""
        self.trading_day = date.fromisoformat(day) if day else None

    def costs_of(self, strategy_id: str) -> CostConfig:
        return self.strategy_costs.get(strategy_id, self.costs)

    def on_fill(self, strategy_id: str, symbol: str, side: Side, qty: int, price_e4: int) -> None:
        """Apply one fill: the position and its average cost, realized PnL on what it closes, its costs.

        Raises KeyError for a symbol with no instrument (its unit, hence its value, is unknown).
        """
        if qty <= 0:
            raise ValueError(f"fill quantity must be positive, got {qty}")
        instrument = self.instruments[symbol]
        costs = self.costs_of(strategy_id)
        account = self._accounts.setdefault(strategy_id, _Account(positions={}))
        position = account.positions.setdefault(symbol, _Position())
        signed_qty = qty if side is Side.BUY else -qty
        fill_value_e4 = price_e4 * instrument.unit  # per lot/contract
        if side is Side.BUY:
            day_trade_qty = 0
            covered, credit_e4 = self._cover_short_first(instrument, position, qty, costs)
            position.day_bought += qty - covered
            account.costs_e4 -= credit_e4
        else:
            day_trade_qty = min(qty, position.day_bought)
            position.day_bought -= day_trade_qty
            # What is left once the sell has closed today's buys and then the rest of a long position: lots
            # sold short, which only a buy later today can make a day trade.
            opened_short = qty - max(position.qty, day_trade_qty)
            if opened_short > 0 and day_trade_tax_pct(costs, instrument, self.trading_day, sell_first=True) is not None:
                position.short_first.append(_ShortFirstSell(price_e4, qty, day_trade_qty, opened_short))

        if position.qty == 0 or (position.qty > 0) == (signed_qty > 0):
            position.qty += signed_qty
            position.basis_e4 += signed_qty * fill_value_e4
        else:
            closed = min(qty, abs(position.qty))
            direction = 1 if position.qty > 0 else -1
            # Integer share of the basis; the remainder stays with what is still open, so a full
            # close always releases the whole basis and round trips are exact.
            released_e4 = _div_toward_zero(position.basis_e4 * closed, abs(position.qty))
            account.gross_realized_e4 += direction * closed * fill_value_e4 - released_e4
            position.qty += signed_qty
            position.basis_e4 -= released_e4
            if position.qty == 0:
                position.basis_e4 = 0
            elif (position.qty > 0) != (direction > 0):  # flipped: the rest opens at the fill price
                position.basis_e4 = position.qty * fill_value_e4
        account.costs_e4 += self.fill_costs_e4(instrument, side, qty, price_e4, day_trade_qty=day_trade_qty,
                                               costs=costs)

    def _cover_short_first(self, instrument: InstrumentRef, position: _Position, qty: int,
                           costs: CostConfig) -> tuple[int, int]:
        """Let a buy of `qty` lots cover today's short-first sells, oldest first: (lots covered, the tax credited
        back to their sells, TWD ×10⁴). Each covered sell is recharged as one fill with more day-trade lots."""
        covered = credit_e4 = 0
        while position.short_first and covered < qty:
            sell = position.short_first[0]
            lots = min(qty - covered, sell.open_qty)
            charged_e4 = self.fill_costs_e4(instrument, Side.SELL, sell.qty, sell.price_e4,
                                            day_trade_qty=sell.day_trade_qty, costs=costs)
            sell.day_trade_qty += lots
            sell.open_qty -= lots
            credit_e4 += charged_e4 - self.fill_costs_e4(instrument, Side.SELL, sell.qty, sell.price_e4,
                                                         day_trade_qty=sell.day_trade_qty, costs=costs)
            if sell.open_qty == 0:
                position.short_first.pop(0)
            covered += lots
        return covered, credit_e4

    def fill_costs_e4(self, instrument: InstrumentRef, side: Side, qty: int, price_e4: int, *,
                      day_trade_qty: int = 0, costs: CostConfig | None = None) -> int:
        """Commission and tax of one fill, in whole TWD ×10⁴: `day_trade_qty` of a sell's lots close lots bought
        the same trading day; `costs` default to the desk's."""
        notional_twd = Fraction(notional_e4(instrument, price_e4, qty), PRICE_SCALE)
        costs = costs or self.costs
        if instrument.kind is InstrumentKind.FUTURE:
            commission_e4 = _floor_twd_e4(Fraction(costs.futures_commission_twd) * qty)
            tax_e4 = _floor_twd_e4(notional_twd * _pct(costs.futures_tax_pct))
            return commission_e4 + tax_e4
        commission_e4 = _floor_twd_e4(
            notional_twd * _pct(costs.stock_commission_pct) * Fraction(costs.commission_discount))
        commission_e4 = max(commission_e4, _floor_twd_e4(Fraction(costs.min_stock_commission_twd)))
        if side is Side.BUY:
            return commission_e4
        tax_twd = notional_twd * _pct(sell_tax_pct(costs, instrument.kind))
        day_pct = day_trade_tax_pct(costs, instrument, self.trading_day) if day_trade_qty else None
        if day_pct is not None:
            day_notional_twd = Fraction(notional_e4(instrument, price_e4, day_trade_qty), PRICE_SCALE)
            tax_twd += day_notional_twd * (_pct(day_pct) - _pct(sell_tax_pct(costs, instrument.kind)))
        return commission_e4 + _floor_twd_e4(tax_twd)

    def position(self, strategy_id: str, symbol: str) -> int:
        account = self._accounts.get(strategy_id)
        position = account.positions.get(symbol) if account is not None else None
        return position.qty if position is not None else 0

    def strategies(self) -> set[str]:
        """Every strategy that has had a fill."""
        return set(self._accounts)

    def gross_realized_e4(self, strategy_id: str) -> int:
        """Realized PnL before costs."""
        account = self._accounts.get(strategy_id)
        return account.gross_realized_e4 if account is not None else 0

    def costs_e4(self, strategy_id: str) -> int:
        """Commission and tax charged so far (a positive amount)."""
        account = self._accounts.get(strategy_id)
        return account.costs_e4 if account is not None else 0

    def realized_e4(self, strategy_id: str) -> int:
        """Realized PnL after every cost charged so far."""
        return self.gross_realized_e4(strategy_id) - self.costs_e4(strategy_id)

    def unrealized_e4(self, strategy_id: str, mark: Mark) -> int:
        """Open positions valued at mark(symbol); a symbol without a mark counts at its average cost (0)."""
        account = self._accounts.get(strategy_id)
        if account is None:
            return 0
        total = 0
        for symbol, position in account.positions.items():
            if position.qty == 0:
                continue
            mark_e4 = mark(symbol)
            if mark_e4 is None:
                continue
            total += position.qty * mark_e4 * self.instruments[symbol].unit - position.basis_e4
        return total

    def pnl_e4(self, strategy_id: str, mark: Mark) -> int:
        """Realized (after costs) plus unrealized."""
        return self.realized_e4(strategy_id) + self.unrealized_e4(strategy_id, mark)

    def total_pnl_e4(self, mark: Mark) -> int:
        """PnL of every strategy together (the global scope's)."""
        return sum(self.pnl_e4(strategy_id, mark) for strategy_id in self._accounts)

    def held_symbols(self) -> set[str]:
        """Every symbol some strategy holds a position in."""
        return {symbol for account in self._accounts.values()
                for symbol, position in account.positions.items() if position.qty}

    def start_day(self, mark: Mark) -> None:
        """A new trading day: realized PnL and costs start from 0, and every open position is valued from its
        mark now (the close of the day before), so the day's PnL counts only the day's moves. A position with
        no mark keeps its cost basis. Nothing is bought or sold today yet, so no sell can be a day trade until a
        buy, and no buy covers yesterday's shorts as a day trade."""
        for account in self._accounts.values():
            account.gross_realized_e4 = 0
            account.costs_e4 = 0
            for symbol, position in account.positions.items():
                position.day_bought = 0
                position.short_first.clear()
                mark_e4 = mark(symbol)
                if position.qty and mark_e4 is not None:
                    position.basis_e4 = position.qty * mark_e4 * self.instruments[symbol].unit

    def saved(self) -> list[SavedAccount]:
        """Every account as risk's state file keeps it."""
        return [
            SavedAccount(strategy_id=strategy_id, gross_realized_e4=account.gross_realized_e4,
                         costs_e4=account.costs_e4,
                         holdings=[SavedHolding(symbol=symbol, qty=position.qty, basis_e4=position.basis_e4,
                                                day_bought=position.day_bought,
                                                short_first=[SavedShortFirstSell(
                                                    price_e4=sell.price_e4, qty=sell.qty,
                                                    day_trade_qty=sell.day_trade_qty, open_qty=sell.open_qty)
                                                    for sell in position.short_first])
                                   for symbol, position in account.positions.items()
                                   if position.qty or position.day_bought or position.short_first])
            for strategy_id, account in self._accounts.items()
        ]

    def clear(self) -> None:
        """Forget every account (a saved state found not to match the journal)."""
        self._accounts.clear()

    def restore(self, accounts: list[SavedAccount]) -> None:
        """Take the accounts back from risk's state file (on an empty book)."""
        for saved in accounts:
            self._accounts[saved.strategy_id] = _Account(
                positions={holding.symbol: _Position(holding.qty, holding.basis_e4, holding.day_bought,
                                                     [_ShortFirstSell(sell.price_e4, sell.qty, sell.day_trade_qty,
                                                                      sell.open_qty)
                                                      for sell in holding.short_first])
                           for holding in saved.holdings},
                gross_realized_e4=saved.gross_realized_e4, costs_e4=saved.costs_e4)


def _div_toward_zero(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient
