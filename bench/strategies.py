"""Strategies used only by the benchmarks."""

from __future__ import annotations

from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext


class EveryTick(Strategy):
    """One intent per market event where it can: a passive buy at the fifth bid level, then its cancel.

    Every intent reaches the broker, so every market event it answers is one tick-to-trade sample.
    """

    def on_start(self, ctx: StrategyContext) -> None:
        self.open: dict[str, str] = {}

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if not event.bid_prices_e4:
            return
        client_order_id = self.open.get(event.symbol)
        order = ctx.order(client_order_id) if client_order_id else None
        if order is None:
            self.open[event.symbol] = ctx.buy(event.symbol, 1, event.bid_prices_e4[-1])
        elif order.is_working and not order.cancel_pending:
            ctx.cancel(order.client_order_id)
