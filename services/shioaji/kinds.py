"""What kind of instrument a Shioaji stock contract is, from its `category` and its code.

Shioaji lists every TWSE / TPEx security under `api.contracts.stocks`: shares, ETFs, ETNs, TDRs,
warrants alike, each with `category`, the exchange's industry code (`"24"` semiconductors, `"17"`
finance, ...). Two codes name a kind: `"00"` is the ETF category and `"91"` the depositary receipts
(TDR). Where the category is empty or names an industry, the exchanges' code conventions decide:
ETFs are numbered from 00 (0050, 00878, 00679B), ETNs from 020000, beneficiary certificates such
as REITs end in T (01001T), warrants are six-character codes 030000–089999 on TWSE and 7xxxxx on
TPEx, and TDRs start with 91. Anything else is a share. The kind picks the tick ladder
(contracts.market_rules), so a wrong guess shows as off_tick refusals, never as a mispriced order.
"""

from __future__ import annotations

from contracts.enums import InstrumentKind

ETF_CATEGORY = "00"
TDR_CATEGORY = "91"
CATEGORY_OF_KIND = {InstrumentKind.ETF: ETF_CATEGORY, InstrumentKind.TDR: TDR_CATEGORY}
"""The category the fake lists for a kind that has its own; other kinds keep the contract's industry."""


def kind_of_stock_contract(category: str | None, code: str) -> InstrumentKind:
    """The kind of a contract from `api.contracts.stocks`, by its category, else by its code."""
    if category == ETF_CATEGORY:
        return InstrumentKind.ETN if _is_etn(code) else InstrumentKind.ETF
    if category == TDR_CATEGORY or code.startswith("91"):
        return InstrumentKind.TDR
    if _is_etn(code):
        return InstrumentKind.ETN
    if code.startswith("00") or (code[:-1].isdigit() and code.endswith("T")):
        return InstrumentKind.ETF
    if len(code) == 6 and code[:5].isdigit() and ("03" <= code[:2] <= "08" or code.startswith("7")):
        return InstrumentKind.WARRANT
    return InstrumentKind.STOCK


def _is_etn(code: str) -> bool:
    return len(code) == 6 and code.startswith("02") and code.isdigit()
