"""BookCache: the latest touch, mid, last and mark of every symbol risk has seen, with their age, for checks
against the market."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.messages import MarketEvent
from services.runtime.clock import Clock


@dataclass(slots=True)
class Quote:
    """What the checks read of a symbol's latest book, worked out once when the book arrives and replaced
    whole by the next one (never changed in place). Slots, not frozen: a frozen dataclass costs three
    times as much to build, once per market event."""

    received_ns: int
    """When the book arrived (the cache's clock, monotonic)."""
    best_bid_e4: int | None
    best_ask_e4: int | None
    mid_e4: int | None
    """Midpoint of the touch (floored to 1/10,000 TWD), or None without both sides."""
    last_e4: int | None
    mark_e4: int | None
    """The price a position is valued at: the mid, else the last trade."""


class BookCache:
    """Every check reads a symbol's quote with one lookup (`quotes`); the methods are the same figures by name."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.quotes: dict[str, Quote] = {}

    def on_market(self, event: MarketEvent) -> None:
        symbol = event.symbol
        bid = event.bid_prices_e4[0] if event.bid_prices_e4 else None
        ask = event.ask_prices_e4[0] if event.ask_prices_e4 else None
        mid = (bid + ask) // 2 if bid is not None and ask is not None else None
        last = event.last_price_e4 or None
        self.quotes[symbol] = Quote(self.clock.mono_ns(), bid, ask, mid, last, mid if mid is not None else last)

    def age_ns(self, symbol: str) -> int | None:
        """How long ago this symbol's book arrived, or None if it never has."""
        quote = self.quotes.get(symbol)
        return None if quote is None else self.clock.mono_ns() - quote.received_ns

    def best_bid_e4(self, symbol: str) -> int | None:
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.best_bid_e4

    def best_ask_e4(self, symbol: str) -> int | None:
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.best_ask_e4

    def mid_e4(self, symbol: str) -> int | None:
        """Midpoint of the touch (floored to 1/10,000 TWD), or None without both sides."""
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.mid_e4

    def last_e4(self, symbol: str) -> int | None:
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.last_e4

    def mark_e4(self, symbol: str) -> int | None:
        """The price a position is valued at: the mid, else the last trade."""
        quote = self.quotes.get(symbol)
        return None if quote is None else quote.mark_e4
