"""A strategy that makes one known round trip in 2330, so its PnL has a peak only the marks show.

It buys 2 lots at 1000 on the first book offering them there, and sells 1 lot at 1020 on the second book
bidding 1020 (by then risk has marked the 2 lots at that book's mid at least once). The e2e test drives it
with a recorded path (tests/e2e/test_replace_risk.py). Loaded as `tests.e2e.round_trip_strategy:RoundTrip`.
"""

from __future__ import annotations

from contracts.messages import MarketEvent
from contracts.prices import to_e4
from services.strategy.api import Strategy, StrategyContext

BUY_AT = to_e4("1000")
SELL_AT = to_e4("1020")


class RoundTrip(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.bought = False
        self.sold = False
        self.books_at_sell_price = 0

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if not self.bought and event.ask_prices_e4 and event.ask_prices_e4[0] == BUY_AT:
            self.bought = True
            ctx.buy(event.symbol, 2, BUY_AT)
        elif not self.sold and ctx.position(event.symbol) == 2 and event.bid_prices_e4 \
                and event.bid_prices_e4[0] == SELL_AT:
            self.books_at_sell_price += 1
            if self.books_at_sell_price == 2:
                self.sold = True
                ctx.sell(event.symbol, 1, SELL_AT)
