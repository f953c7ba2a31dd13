"""SizeNotional: per-order quantity and notional caps of each strategy (market orders valued at limit up)."""

from __future__ import annotations

from contracts.enums import PriceType, Reason
from contracts.market_rules import notional_e4
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import PRICE_SCALE
from services.risk.validators.base import Rejection
from services.runtime.config.strategy_limits import OrderLimits


class SizeNotionalValidator:
    def __init__(self, instruments: dict[str, InstrumentRef], limits: dict[str, OrderLimits]) -> None:
        self.instruments = instruments
        self._max_qty = {sid: lim.max_order_qty for sid, lim in limits.items()}
        self._max_notional_e4 = {
            sid: int(lim.max_order_notional_twd * PRICE_SCALE) for sid, lim in limits.items()
        }

    def check(self, intent: OrderIntent) -> Rejection | None:
        max_qty = self._max_qty.get(intent.strategy_id, 0)
        if intent.qty <= 0 or intent.qty > max_qty:
            return Rejection(Reason.SIZE_LIMIT, f"qty {intent.qty} outside 1..{max_qty}")
        instrument = self.instruments.get(intent.symbol)
        if instrument is None:
            return Rejection(Reason.UNKNOWN_INSTRUMENT, f"no reference data for {intent.symbol}")
        # A market order can trade anywhere up to the daily limit: value it there.
        price_e4 = instrument.limit_up_e4 if intent.price_type is PriceType.MKT else intent.price_e4
        order_notional_e4 = notional_e4(instrument, price_e4, intent.qty)
        cap_e4 = self._max_notional_e4[intent.strategy_id]
        if order_notional_e4 > cap_e4:
            return Rejection(
                Reason.NOTIONAL_LIMIT,
                f"notional {order_notional_e4 // PRICE_SCALE} TWD over {cap_e4 // PRICE_SCALE} TWD",
            )
        return None
