"""A strategy whose process dies a few seconds into trading, as a strategy with a native crash (a
segfaulting extension) would: os._exit, so no exception handler of the runner can catch it and no
final heartbeat is sent. Under `orderpath up` it crashes in a loop until the supervision gives up.
It dies at its CRASH_AT-th book, not its first, so the stack is up (the feed heard alive) before it
does: a service that dies while the stack starts fails the start instead.

Loaded by the e2e tests as `tests.e2e.crashing_strategy:Crasher` in a real strategy process.
"""

from __future__ import annotations

import os

from contracts.messages import MarketEvent
from services.strategy.api import Strategy, StrategyContext

EXIT_CODE = 3
CRASH_AT = 200
"""Books of one symbol at the synthetic feed's 200 events a second over three symbols: about 3 s."""


class Crasher(Strategy):
    def on_start(self, ctx: StrategyContext) -> None:
        self.books = 0

    def on_book(self, ctx: StrategyContext, event: MarketEvent) -> None:
        self.books += 1
        if self.books >= CRASH_AT:
            os._exit(EXIT_CODE)
