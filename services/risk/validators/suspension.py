"""Suspension: nothing is sent in a contract whose trading the exchange has suspended.

The broker's contract data of the day says so (Shioaji's StockInfo.trading_suspended, carried on the
InstrumentRef the quote bridge publishes; config/instruments.yaml for the simulator). The exchange
would refuse the order anyway; refusing it here keeps it off the broker's order budget and tells the
strategy why in its own words. Cancels are never refused (the engine lets them through first).
"""

from __future__ import annotations

from contracts.enums import Reason
from contracts.messages import InstrumentRef, OrderIntent
from services.risk.validators.base import Rejection


class SuspensionValidator:
    def __init__(self, instruments: dict[str, InstrumentRef]) -> None:
        self.instruments = instruments

    def check(self, intent: OrderIntent) -> Rejection | None:
        ref = self.instruments.get(intent.symbol)
        if ref is not None and ref.trading_suspended:
            return Rejection(Reason.TRADING_SUSPENDED, f"trading in {intent.symbol} is suspended by the exchange")
        return None
