"""PriceBand: a limit price must be a legal price: inside the contract's daily limits and on the tick ladder."""

from __future__ import annotations

from contracts.enums import PriceType, Reason
from contracts.market_rules import is_on_tick, tick_e4
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import format_price
from services.risk.validators.base import Rejection


class PriceBandValidator:
    def __init__(self, instruments: dict[str, InstrumentRef]) -> None:
        self.instruments = instruments

    def check(self, intent: OrderIntent) -> Rejection | None:
        instrument = self.instruments.get(intent.symbol)
        if instrument is None:
            return Rejection(Reason.UNKNOWN_INSTRUMENT, f"no reference data for {intent.symbol}")
        if intent.price_type is PriceType.MKT:
            return None
        price = intent.price_e4
        if not instrument.limit_down_e4 <= price <= instrument.limit_up_e4:
            return Rejection(
                Reason.PRICE_BAND,
                f"{format_price(price)} outside {format_price(instrument.limit_down_e4)}"
                f"..{format_price(instrument.limit_up_e4)}",
            )
        if not is_on_tick(instrument, price):
            return Rejection(
                Reason.OFF_TICK,
                f"{format_price(price)} is not a multiple of the tick {format_price(tick_e4(instrument, price))}",
            )
        return None
