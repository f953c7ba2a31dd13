"""A long-only strategy for the sell-off replay: buys a position with a take-profit above it, then
keeps bidding at the touch."""

from __future__ import annotations

from contracts.market_rules import ticks_away
from contracts.messages import InstrumentRef, MarketEvent
from services.strategy.api import Strategy, StrategyContext

TAKE_PROFIT_TICKS = 8


class LongOnly(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.instrument: InstrumentRef = self.params["instrument"]
        self.bid: str | None = None
        self.take_profit: str | None = None

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if self.take_profit is None:
            ctx.buy(event.symbol, 5, event.ask_prices_e4[0])
            self.take_profit = ctx.sell(event.symbol, 5,
                                        ticks_away(self.instrument, event.ask_prices_e4[0], TAKE_PROFIT_TICKS))
        order = ctx.order(self.bid) if self.bid else None
        if order is None:
            self.bid = ctx.buy(event.symbol, 2, event.bid_prices_e4[0])
