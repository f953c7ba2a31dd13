"""SizeNotional: how big one order may be, and how much exposure it may leave a strategy and the desk with.

Per order: quantity within 1..max_order_qty and notional within max_order_notional_twd (a market
order valued at limit up, where it could trade). Per symbol: the position a NEW could leave behind
if it and every same-side outstanding order filled stays within ±max_position_qty; only the side
an order adds to counts, so a sell that reduces a long always passes. Per strategy and for the
whole desk: gross notional (|position| plus outstanding on both sides, marked at the book's mid,
else last, else the reference price) plus the new order stays within max_gross_notional_twd; an
order that only closes (it fits in the position left after same-side outstanding orders) is
exempt, since if it fills it lowers the gross it is counted in. An AMEND moves the price of an
order already counted as outstanding, so only the per-order caps apply to it.

Quantities are lots for stocks (instrument.unit shares each) and contracts for futures. The gross
walks the symbols a strategy holds or works, and the desk's the symbols any strategy does (PositionBook
keeps both exposures), never the orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from contracts.enums import Reason
from contracts.market_rules import notional_e4
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import PRICE_SCALE
from services.risk.book_cache import BookCache
from services.risk.members import BUY, MKT, NEW
from services.risk.positions import PositionBook
from services.risk.validators.base import Rejection
from services.runtime.config.strategy_limits import GlobalLimits, OrderLimits


def size_outside(qty: int, max_qty: int) -> Rejection:
    return Rejection(Reason.SIZE_LIMIT, f"qty {qty} outside 1..{max_qty}")


def notional_over(order_notional_e4: int, cap_e4: int) -> Rejection:
    return Rejection(
        Reason.NOTIONAL_LIMIT, f"notional {order_notional_e4 // PRICE_SCALE} TWD over {cap_e4 // PRICE_SCALE} TWD"
    )


def order_price_e4(instrument: InstrumentRef, intent: OrderIntent) -> int:
    """The price an order is valued at: its limit, or limit up for a market order (it can trade anywhere up to it)."""
    return instrument.limit_up_e4 if intent.price_type is MKT else intent.price_e4


@dataclass(frozen=True, slots=True)
class StrategyCaps:
    """One strategy's size and exposure caps (quantities, and notionals ×10⁴ TWD): one lookup reads them all."""

    max_qty: int
    max_notional_e4: int
    max_position_qty: int
    max_gross_e4: int


NO_CAPS = StrategyCaps(0, 0, 0, 0)
"""What a strategy without limits may send: nothing (its quantity is refused first)."""
NO_EXPOSURE: Mapping[str, int] = MappingProxyType({})
"""A strategy that holds and works nothing (read-only: a fresh {} per intent was an allocation on the path)."""


class SizeNotionalValidator:
    def __init__(
        self,
        instruments: dict[str, InstrumentRef],
        limits: dict[str, OrderLimits],
        global_limits: GlobalLimits,
        positions: PositionBook,
        book: BookCache,
    ) -> None:
        self.instruments = instruments
        self.positions = positions
        self.book = book
        self.caps = {
            sid: StrategyCaps(lim.max_order_qty, int(lim.max_order_notional_twd * PRICE_SCALE), lim.max_position_qty,
                              int(lim.max_gross_notional_twd * PRICE_SCALE))
            for sid, lim in limits.items()
        }
        self.global_max_gross_e4 = int(global_limits.max_gross_notional_twd * PRICE_SCALE)

    def check(self, intent: OrderIntent) -> Rejection | None:
        """`check_order`, then for a NEW `check_exposure`."""
        # One lookup of the caps and one of the instrument serve both halves: the chain's hot path.
        caps = self.caps.get(intent.strategy_id, NO_CAPS)
        instrument = self.instruments.get(intent.symbol)
        rejection = self._check_order(intent, caps, instrument)
        if rejection is None and instrument is not None and intent.action is NEW:
            return self._check_exposure(intent, caps, instrument)
        return rejection

    def check_order(self, intent: OrderIntent) -> Rejection | None:
        """Per-order caps only: quantity and notional (the part the numpy batch repeats)."""
        caps = self.caps.get(intent.strategy_id, NO_CAPS)
        return self._check_order(intent, caps, self.instruments.get(intent.symbol))

    def check_exposure(self, intent: OrderIntent) -> Rejection | None:
        """What a NEW adds to the resulting position and to the gross caps. Assumes `check_order` passed."""
        return self._check_exposure(intent, self.caps[intent.strategy_id], self.instruments[intent.symbol])

    def _check_order(
        self, intent: OrderIntent, caps: StrategyCaps, instrument: InstrumentRef | None
    ) -> Rejection | None:
        qty = intent.qty
        if qty <= 0 or qty > caps.max_qty:
            return size_outside(qty, caps.max_qty)
        if instrument is None:
            return Rejection(Reason.UNKNOWN_INSTRUMENT, f"no reference data for {intent.symbol}")
        order_notional_e4 = notional_e4(instrument, order_price_e4(instrument, intent), qty)
        if order_notional_e4 > caps.max_notional_e4:
            return notional_over(order_notional_e4, caps.max_notional_e4)
        return None

    def _check_exposure(self, intent: OrderIntent, caps: StrategyCaps, instrument: InstrumentRef) -> Rejection | None:
        strategy_id, symbol, qty = intent.strategy_id, intent.symbol, intent.qty
        positions = self.positions
        position = positions.position(strategy_id, symbol)
        outstanding = positions.outstanding(strategy_id, symbol, intent.side)
        max_position = caps.max_position_qty
        if intent.side is BUY:
            resulting = position + outstanding + qty
            if resulting > max_position:
                return self._position_over(intent, position, outstanding, resulting, max_position)
            to_close = -position
        else:
            resulting = position - outstanding - qty
            if resulting < -max_position:
                return self._position_over(intent, position, outstanding, resulting, max_position)
            to_close = position
        if qty <= to_close - outstanding:
            return None  # only closes: filling it lowers the gross
        order_notional = notional_e4(instrument, order_price_e4(instrument, intent), qty)
        strategy_gross = self._gross_e4(positions.exposure.get(strategy_id, NO_EXPOSURE)) + order_notional
        cap = caps.max_gross_e4
        if strategy_gross > cap:
            return Rejection(
                Reason.NOTIONAL_LIMIT,
                f"{strategy_id} gross {strategy_gross // PRICE_SCALE} TWD with this order "
                f"over {cap // PRICE_SCALE} TWD",
            )
        desk_gross = self._gross_e4(positions.desk_exposure) + order_notional
        if desk_gross > self.global_max_gross_e4:
            return Rejection(
                Reason.NOTIONAL_LIMIT,
                f"desk gross {desk_gross // PRICE_SCALE} TWD with this order over "
                f"{self.global_max_gross_e4 // PRICE_SCALE} TWD",
            )
        return None

    def gross_e4(self, strategy_id: str) -> int:
        """The strategy's gross notional now (×10⁴ TWD), without any new order."""
        return self._gross_e4(self.positions.exposure.get(strategy_id, NO_EXPOSURE))

    def _gross_e4(self, exposure: Mapping[str, int]) -> int:
        """Σ quantity × the value of one lot or contract (×10⁴ TWD): the book's mark, else the reference price."""
        gross = 0
        instruments, quotes = self.instruments, self.book.quotes
        for symbol, qty in exposure.items():
            if qty:
                quote = quotes.get(symbol)
                mark = None if quote is None else quote.mark_e4
                instrument = instruments.get(symbol)
                if instrument is None:
                    # A holding with no reference data (which risk never approves) cannot be valued by lot size;
                    # count it at its price per unit rather than leave it out.
                    gross += qty * (mark or 0)
                else:
                    gross += qty * (mark if mark is not None else instrument.reference_e4) * instrument.unit
        return gross

    def _position_over(
        self, intent: OrderIntent, position: int, outstanding: int, resulting: int, max_position: int
    ) -> Rejection:
        return Rejection(
            Reason.POSITION_LIMIT,
            f"{intent.side} {intent.qty} {intent.symbol}: position {position} with {outstanding} {intent.side} "
            f"outstanding would reach {resulting}, over ±{max_position}",
        )
