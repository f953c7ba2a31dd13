"""Quoter: a sample market maker that joins the best bid and ask and follows them as the book moves.

It exercises the whole order life: NEW when a side has no quote, AMEND when the touch moves
away from the price it last asked for (without waiting for the previous amend's answer: the
adapter coalesces a series of amends into the newest), CANCEL when the position reaches
`max_position` on that side. It
respects StormGuard as a well-behaved strategy should: in STORM it quotes only the side that
reduces its position (risk would refuse the other anyway), in HALT it sends nothing (risk has
already cancelled its orders). Params: qty (lots per quote), max_position (lots, absolute).
"""

from __future__ import annotations

from contracts.enums import Side, StormGuardLevel
from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext


class Quoter(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.qty = int(self.params.get("qty", 1))
        self.max_position = int(self.params.get("max_position", 5))
        self.quotes: dict[tuple[str, Side], str] = {}
        self.asked: dict[str, int] = {}

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if not event.bid_prices_e4 or not event.ask_prices_e4 or ctx.stormguard is StormGuardLevel.HALT:
            return
        position = ctx.position(event.symbol)
        if ctx.stormguard is StormGuardLevel.STORM:
            may_buy, may_sell = position < 0, position > 0
        else:
            may_buy, may_sell = position < self.max_position, position > -self.max_position
        qty = min(self.qty, abs(position)) if ctx.stormguard is StormGuardLevel.STORM else self.qty
        self._quote(ctx, event.symbol, Side.BUY, event.bid_prices_e4[0], may_buy, qty)
        self._quote(ctx, event.symbol, Side.SELL, event.ask_prices_e4[0], may_sell, qty)

    def _quote(self, ctx: StrategyContext, symbol: str, side: Side, touch_e4: int, allowed: bool, qty: int) -> None:
        client_order_id = self.quotes.get((symbol, side)) or self._adopt(ctx, symbol, side)
        order = ctx.order(client_order_id) if client_order_id else None
        if order is None:
            if client_order_id is not None:
                self.asked.pop(client_order_id, None)
            if allowed:
                new = ctx.buy if side is Side.BUY else ctx.sell
                client_order_id = new(symbol, qty, touch_e4)
                self.quotes[(symbol, side)] = client_order_id
                self.asked[client_order_id] = touch_e4
            return
        if not order.is_working or order.cancel_pending:
            return
        if not allowed:
            ctx.cancel(order.client_order_id)
        elif self.asked.get(order.client_order_id, order.price_e4) != touch_e4:
            ctx.amend(order.client_order_id, price_e4=touch_e4)
            self.asked[order.client_order_id] = touch_e4

    def _adopt(self, ctx: StrategyContext, symbol: str, side: Side) -> str | None:
        """A working quote from before a restart (the runner rebuilt it from the adapter's history):
        follow it rather than quote the same side twice."""
        for order in ctx.open_orders.values():
            if order.symbol == symbol and order.side is side and order.is_working:
                self.quotes[(symbol, side)] = order.client_order_id
                return order.client_order_id
        return None
