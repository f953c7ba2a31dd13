"""The securities transaction tax a sell pays, by instrument kind.

Securities Transaction Tax Act (證券交易稅條例) article 2: shares (and certificates of share rights)
pay 0.3 % of the sale price; other securities approved for public offering pay 0.1 %: ETFs and
other beneficiary certificates, ETNs, TDRs and warrants. Only the seller pays. A day trade of shares
(現股當沖) pays 0.15 % on its sell until 2027-12-31 (article 2-2, extended by the Legislative Yuan on
2024-12-27): CostConfig.day_trade_sell_tax_pct and day_trade_tax_until, applied by services.risk.pnl
to the lots a sell closes that were bought the same trading day, and to the lots of a sell-first day
trade (sold, then bought back the same day) once the buy comes, for a stock the broker allows to be day
traded that way (a sell first only where its day_trade is `yes`: `only_buy` allows buy first only).
An exception orderpath does not apply yet: bond ETFs pay none until 2026-12-31. Futures pay their own
tax on both sides (TAIFEX index futures: 0.002 % of the value), charged in services.risk.pnl.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from contracts.enums import DayTrade, InstrumentKind
from contracts.messages import InstrumentRef
from services.runtime.config.strategy_limits import CostConfig


def sell_tax_pct(costs: CostConfig, kind: InstrumentKind) -> Decimal:
    """The % of a sell's value paid as securities transaction tax, for a kind other than a future."""
    return costs.stock_sell_tax_pct if kind is InstrumentKind.STOCK else costs.fund_sell_tax_pct


def day_trade_tax_pct(costs: CostConfig, instrument: InstrumentRef, day: date | None, *,
                      sell_first: bool = False) -> Decimal | None:
    """The % a day-trade sell of `instrument` pays on trading day `day` (None: not known yet, the rule
    taken as in force), or None if the reduced rate does not apply: not a stock, not allowed to be day
    traded (sold first, if `sell_first`; else bought first) by its reference data (or by
    costs.day_trade_when_unknown if that does not say), or past the rule's end date."""
    if instrument.kind is not InstrumentKind.STOCK:
        return None
    if instrument.day_trade is None:
        allowed = costs.day_trade_when_unknown
    elif sell_first:
        allowed = instrument.day_trade is DayTrade.YES
    else:
        allowed = instrument.day_trade is not DayTrade.NO
    if not allowed or (day is not None and day > costs.day_trade_tax_until):
        return None
    return costs.day_trade_sell_tax_pct
