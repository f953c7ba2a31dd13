"""The securities transaction tax a sell pays, by instrument kind.

Securities Transaction Tax Act (證券交易稅條例) article 2: shares (and certificates of share rights)
pay 0.3 % of the sale price; other securities approved for public offering pay 0.1 %: ETFs and
other beneficiary certificates, ETNs, TDRs and warrants. Only the seller pays. Exceptions orderpath
does not apply yet: a day trade of shares (現股當沖) pays 0.15 % on its sell until 2027-12-31
(article 2-2, extended by the Legislative Yuan on 2024-12-27), and bond ETFs pay none until
2026-12-31. Futures pay their own tax on both sides (TAIFEX index futures: 0.002 % of the value),
charged in services.risk.pnl.
"""

from __future__ import annotations

from decimal import Decimal

from contracts.enums import InstrumentKind
from services.runtime.config.strategy_limits import CostConfig


def sell_tax_pct(costs: CostConfig, kind: InstrumentKind) -> Decimal:
    """The % of a sell's value paid as securities transaction tax, for a kind other than a future."""
    return costs.stock_sell_tax_pct if kind is InstrumentKind.STOCK else costs.fund_sell_tax_pct
