"""BookCache: the latest book of every symbol risk has seen, with its age, for checks against the market."""

from __future__ import annotations

from contracts.messages import MarketEvent
from services.runtime.clock import Clock


class BookCache:
    """Mid and mark are computed once per market event, since every check reads them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.books: dict[str, MarketEvent] = {}
        self._received_ns: dict[str, int] = {}
        self._mid_e4: dict[str, int | None] = {}
        self._mark_e4: dict[str, int | None] = {}

    def on_market(self, event: MarketEvent) -> None:
        symbol = event.symbol
        self.books[symbol] = event
        self._received_ns[symbol] = self.clock.mono_ns()
        mid = (event.bid_prices_e4[0] + event.ask_prices_e4[0]) // 2 \
            if event.bid_prices_e4 and event.ask_prices_e4 else None
        self._mid_e4[symbol] = mid
        self._mark_e4[symbol] = mid if mid is not None else (event.last_price_e4 or None)

    def age_ns(self, symbol: str) -> int | None:
        """How long ago this symbol's book arrived, or None if it never has."""
        received = self._received_ns.get(symbol)
        return None if received is None else self.clock.mono_ns() - received

    def best_bid_e4(self, symbol: str) -> int | None:
        book = self.books.get(symbol)
        return book.bid_prices_e4[0] if book is not None and book.bid_prices_e4 else None

    def best_ask_e4(self, symbol: str) -> int | None:
        book = self.books.get(symbol)
        return book.ask_prices_e4[0] if book is not None and book.ask_prices_e4 else None

    def mid_e4(self, symbol: str) -> int | None:
        """Midpoint of the touch (floored to 1/10,000 TWD), or None without both sides."""
        return self._mid_e4.get(symbol)

    def last_e4(self, symbol: str) -> int | None:
        book = self.books.get(symbol)
        return book.last_price_e4 if book is not None and book.last_price_e4 else None

    def mark_e4(self, symbol: str) -> int | None:
        """The price a position is valued at: the mid, else the last trade."""
        return self._mark_e4.get(symbol)
