"""A strategy that sends a fixed script of intents, keyed by the md sequence number it reacts to.

Loaded by the e2e test as `tests.e2e.scripted_strategy:Scripted` in a real strategy process.
"""

from __future__ import annotations

from contracts.messages import MarketEvent
from contracts.prices import to_e4
from services.strategy.api import Strategy, StrategyContext


class Scripted(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.orders: dict[str, str] = {}

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if event.seq == 1:
            self.orders["rest"] = ctx.buy("2330", 1, to_e4("995"))
            ctx.buy("2330", 1, to_e4("995.5"))
            ctx.buy("2330", 1, to_e4("1200"))
            ctx.buy("2330", 9, to_e4("990"))
        elif event.seq == 2:
            ctx.amend(self.orders["rest"], price_e4=to_e4("996"))
        elif event.seq == 3:
            self.orders["cross"] = ctx.buy("2330", 2, to_e4("1000"))
        elif event.seq == 4:
            ctx.cancel(self.orders["cross"])
