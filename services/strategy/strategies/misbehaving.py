"""Misbehaving: a deliberately bad strategy, to watch budgets and isolation work.

Every `slow_every`-th call spins for `slow_us` (well over any sane budget), and after
`raise_after` calls it raises: the runner counts the slow calls, alerts past three a minute, and
disables it on the exception while every other strategy keeps trading. It never sends an order.
Params: slow_every, slow_us, raise_after.
"""

from __future__ import annotations

import time

from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext


class Misbehaving(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.slow_every = int(self.params.get("slow_every", 50))
        self.slow_us = int(self.params.get("slow_us", 2000))
        self.raise_after = int(self.params.get("raise_after", 1000))
        self.calls = 0

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        self.calls += 1
        if self.calls >= self.raise_after:
            raise RuntimeError(f"{self.strategy_id} misbehaves on purpose after {self.calls} calls")
        if self.calls % self.slow_every == 0:
            started = time.perf_counter_ns()
            while time.perf_counter_ns() - started < self.slow_us * 1000:
                pass
