"""Momentum: a sample taker that buys when the mid has risen and sells when it has fallen.

Over the last `lookback` market events of a symbol, a mid that moved up by at least `trigger_ticks`
ticks sends an IOC buy at the best ask (a move down, an IOC sell at the best bid), within
±`max_position` lots. It respects StormGuard: in STORM it only trades toward flat, in HALT not
at all. Params: qty, lookback, trigger_ticks, max_position.
"""

from __future__ import annotations

from collections import deque

from contracts.enums import StormGuardLevel, TimeInForce
from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext


class Momentum(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.qty = int(self.params.get("qty", 1))
        self.lookback = int(self.params.get("lookback", 20))
        self.trigger_ticks = int(self.params.get("trigger_ticks", 3))
        self.max_position = int(self.params.get("max_position", 3))
        self.mids: dict[str, deque[int]] = {}

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        if not event.bid_prices_e4 or not event.ask_prices_e4:
            return
        bid, ask = event.bid_prices_e4[0], event.ask_prices_e4[0]
        mids = self.mids.setdefault(event.symbol, deque(maxlen=self.lookback))
        mids.append((bid + ask) // 2)
        if len(mids) < self.lookback or ctx.stormguard is StormGuardLevel.HALT:
            return
        move_ticks = (mids[-1] - mids[0]) // max(1, ask - bid)
        position = ctx.position(event.symbol)
        close_only = ctx.stormguard is StormGuardLevel.STORM
        if move_ticks >= self.trigger_ticks and position < self.max_position and (not close_only or position < 0):
            ctx.buy(event.symbol, min(self.qty, -position) if close_only else self.qty, ask, TimeInForce.IOC)
            mids.clear()
        elif move_ticks <= -self.trigger_ticks and position > -self.max_position and (not close_only or position > 0):
            ctx.sell(event.symbol, min(self.qty, position) if close_only else self.qty, bid, TimeInForce.IOC)
            mids.clear()
