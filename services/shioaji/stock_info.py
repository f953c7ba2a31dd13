"""The regulator's state of a stock, from the broker's contract data (Shioaji's StockInfo).

Shioaji 1.7.9 carries it on `StockInfo`, the contracts v2 info row (`api.contracts.info(base)`, per
the installed SDK's own docstring): day-trade eligibility, trading suspension, the attention flag
(注意股) and a disposition stock's terms (處置股: its level, the minutes between its call-auction
matches, the lots one order and the day's orders together may hold, the share paid in advance).
`stock_info` asks for the row and falls back to the contract itself when the client has no info
call or refuses it (the v1 `sj.Stock` carries `day_trade` only); `regulatory_fields` turns what it
finds into InstrumentRef's fields, a field the object lacks taking the "nothing known" default.
"""

from __future__ import annotations

from typing import Any

from contracts.enums import DayTrade
from services.shioaji.sdk import sj

_DAY_TRADE = {"Yes": DayTrade.YES, "OnlyBuy": DayTrade.ONLY_BUY, "No": DayTrade.NO}


def stock_info(api: Any, contract: Any) -> Any:
    """The StockInfo of a stock contract, or the contract itself when the client gives none."""
    info = getattr(api.contracts, "info", None)
    if info is None:
        return contract
    try:
        return info(contract)
    except (ValueError, sj.ShioajiError):
        return contract


def regulatory_fields(info: Any) -> dict[str, Any]:
    """InstrumentRef's regulatory fields from a StockInfo (or anything carrying some of its attributes)."""
    day_trade = getattr(info, "day_trade", None)
    return {
        "day_trade": _DAY_TRADE.get(str(getattr(day_trade, "value", day_trade))) if day_trade is not None else None,
        "trading_suspended": bool(getattr(info, "trading_suspended", None) or False),
        "attention_flag": bool(getattr(info, "attention_flag", None) or False),
        "disposition_level": int(getattr(info, "disposition_level", None) or 0),
        "disposition_match_interval_min": int(getattr(info, "disposition_match_interval_min", None) or 0),
        "disposition_max_lots_single_order": int(getattr(info, "disposition_max_lots_single_order", None) or 0),
        "disposition_max_lots_total_orders": int(getattr(info, "disposition_max_lots_total_orders", None) or 0),
        "disposition_prepay_ratio": float(getattr(info, "disposition_prepay_ratio", None) or 0.0),
    }
