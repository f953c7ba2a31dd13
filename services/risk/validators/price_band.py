"""PriceBand: a limit price must be a legal price, close to the market, and not chase it too far.

Checks in order, stopping at the first that fails: the symbol has reference data; a limit price
lies inside the contract's daily limits and on the tick ladder (TWSE/TPEx ladder for stocks, the
contract's tick for futures); the symbol's book exists and is fresh; a limit price lies within
±band_pct % of the book's mid or last (per band_reference); a marketable order (a buy at or above
the best ask, a sell at or below the best bid) goes at most max_ticks_through ticks through the
opposite touch, counted on the ladder. A market order has no price to check: it must still have a
fresh book. `check_price` is everything but the through check, the part the numpy batch in
services/risk/batch.py repeats; `check` is the whole of it.
"""

from __future__ import annotations

from contracts.enums import Reason
from contracts.market_rules import is_on_tick, tick_e4, ticks_away
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import format_price
from services.risk.book_cache import BookCache, Quote
from services.risk.members import BUY, LMT
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import BookChecks


def band_half_width_e4(reference_e4: int, band_pct_ratio: tuple[int, int]) -> int:
    """How far (×10⁴, floored) a price may sit from the reference: reference × band_pct / 100.

    Floored, so a price passes exactly when |price − reference| × 100 ≤ band_pct × reference.
    """
    numerator, denominator = band_pct_ratio
    return reference_e4 * numerator // (100 * denominator)


def unknown_instrument(symbol: str) -> Rejection:
    return Rejection(Reason.UNKNOWN_INSTRUMENT, f"no reference data for {symbol}")


def outside_limits(instrument: InstrumentRef, price_e4: int) -> Rejection:
    return Rejection(
        Reason.PRICE_BAND,
        f"{format_price(price_e4)} outside {format_price(instrument.limit_down_e4)}"
        f"..{format_price(instrument.limit_up_e4)}",
    )


def off_tick(instrument: InstrumentRef, price_e4: int) -> Rejection:
    return Rejection(
        Reason.OFF_TICK,
        f"{format_price(price_e4)} is not a multiple of the tick {format_price(tick_e4(instrument, price_e4))}",
    )


def no_book(symbol: str) -> Rejection:
    return Rejection(Reason.STALE_MARKET_DATA, f"no book for {symbol}")


def old_book(symbol: str, age_ns: int, max_age_ms: int) -> Rejection:
    return Rejection(Reason.STALE_MARKET_DATA, f"book of {symbol} is {age_ns / 1e6:.3f} ms old, over {max_age_ms} ms")


def no_reference(symbol: str, band_reference: str) -> Rejection:
    return Rejection(Reason.STALE_MARKET_DATA, f"no {band_reference} price for {symbol} to band around")


def outside_band(price_e4: int, reference_e4: int, half_width_e4: int, checks: BookChecks) -> Rejection:
    return Rejection(
        Reason.PRICE_BAND,
        f"{format_price(price_e4)} outside {format_price(reference_e4 - half_width_e4)}"
        f"..{format_price(reference_e4 + half_width_e4)} ({checks.band_pct} % of {checks.band_reference} "
        f"{format_price(reference_e4)})",
    )


class PriceBandValidator:
    def __init__(
        self, instruments: dict[str, InstrumentRef], book: BookCache, checks: BookChecks, clock: Clock
    ) -> None:
        self.instruments = instruments
        self.book = book
        self.checks = checks
        # The same clock as the book's, which stamps when each book arrived.
        self.clock = clock
        self.max_book_age_ns = checks.max_book_age_ms * 1_000_000
        self.band_pct_ratio = checks.band_pct.as_integer_ratio()
        self._band_on_mid = checks.band_reference == "mid"

    def check(self, intent: OrderIntent) -> Rejection | None:
        """`check_price`, then for a limit order `check_through`."""
        # One lookup of the instrument and one of the quote serve both halves: the chain's hot path.
        symbol = intent.symbol
        instrument = self.instruments.get(symbol)
        if instrument is None:
            return unknown_instrument(symbol)
        quote = self.book.quotes.get(symbol)
        rejection = self._check_price(intent, instrument, quote)
        if rejection is None and quote is not None and intent.price_type is LMT:
            return self._check_through(intent, instrument, quote)
        return rejection

    def check_price(self, intent: OrderIntent) -> Rejection | None:
        """Every check but the marketable one: a legal limit price, a fresh book, inside the band."""
        symbol = intent.symbol
        instrument = self.instruments.get(symbol)
        if instrument is None:
            return unknown_instrument(symbol)
        return self._check_price(intent, instrument, self.book.quotes.get(symbol))

    def check_through(self, intent: OrderIntent) -> Rejection | None:
        """A marketable limit order may take at most max_ticks_through ticks beyond the opposite touch.

        Assumes `check_price` passed (known symbol, legal price).
        """
        quote = self.book.quotes.get(intent.symbol)
        if quote is None:
            return None
        return self._check_through(intent, self.instruments[intent.symbol], quote)

    def _check_price(self, intent: OrderIntent, instrument: InstrumentRef, quote: Quote | None) -> Rejection | None:
        symbol = intent.symbol
        price = intent.price_e4
        limit_order = intent.price_type is LMT
        if limit_order:
            if not instrument.limit_down_e4 <= price <= instrument.limit_up_e4:
                return outside_limits(instrument, price)
            if not is_on_tick(instrument, price):
                return off_tick(instrument, price)
        if quote is None:
            return no_book(symbol)
        age_ns = self.clock.mono_ns() - quote.received_ns
        if age_ns > self.max_book_age_ns:
            return old_book(symbol, age_ns, self.checks.max_book_age_ms)
        if not limit_order:
            return None
        reference = quote.mid_e4 if self._band_on_mid else quote.last_e4
        if reference is None:
            return no_reference(symbol, self.checks.band_reference)
        half_width = band_half_width_e4(reference, self.band_pct_ratio)
        if abs(price - reference) > half_width:
            return outside_band(price, reference, half_width, self.checks)
        return None

    def _check_through(self, intent: OrderIntent, instrument: InstrumentRef, quote: Quote) -> Rejection | None:
        price = intent.price_e4
        max_ticks = self.checks.max_ticks_through
        if intent.side is BUY:
            touch = quote.best_ask_e4
            if touch is None or price <= touch:
                return None
            farthest = ticks_away(instrument, touch, max_ticks)
            if price > farthest:
                return self._through(intent, touch, farthest, "ask")
        else:
            touch = quote.best_bid_e4
            if touch is None or price >= touch:
                return None
            farthest = ticks_away(instrument, touch, -max_ticks)
            if price < farthest:
                return self._through(intent, touch, farthest, "bid")
        return None

    def _through(self, intent: OrderIntent, touch: int, farthest: int, touch_name: str) -> Rejection:
        return Rejection(
            Reason.PRICE_BAND,
            f"{intent.side} at {format_price(intent.price_e4)} goes more than {self.checks.max_ticks_through} ticks "
            f"through the best {touch_name} {format_price(touch)} (at most {format_price(farthest)})",
        )
