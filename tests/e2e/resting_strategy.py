"""A strategy whose orders rest: one bid and one ask per symbol at the deepest displayed level, placed
again only when one is gone. The synthetic walk rarely reaches that far, so at any moment there are
orders working at the broker (the crash test kills the adapter, and cancels all, while they are).

Loaded by the e2e tests as `tests.e2e.resting_strategy:Rester` in a real strategy process.
"""

from __future__ import annotations

from contracts.enums import Side
from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext


class Rester(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.orders: dict[tuple[str, Side], str] = {}

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        for side, prices in ((Side.BUY, event.bid_prices_e4), (Side.SELL, event.ask_prices_e4)):
            client_order_id = self.orders.get((event.symbol, side))
            if prices and (client_order_id is None or ctx.order(client_order_id) is None):
                new = ctx.buy if side is Side.BUY else ctx.sell
                self.orders[(event.symbol, side)] = new(event.symbol, 1, prices[-1])
