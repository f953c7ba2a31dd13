"""Attention: a stock on the exchange's attention list (注意股) is warned about, not refused.

The exchange announces unusual trading (a price move, turnover, concentration) by putting a stock
on its attention list (Shioaji's StockInfo.attention_flag; api.notice() has the reasons). It limits
nothing, but a stock flagged several days running goes under disposition, so the desk should know
it is trading one: risk logs a warning once per symbol and Taipei day, for the reference data in
force (the file's at start, then each day's from the quote bridge).
"""

from __future__ import annotations

from contracts.market_rules import taipei_date
from contracts.messages import InstrumentRef
from services.runtime.clock import Clock


class AttentionWatch:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._day = ""
        self._warned: set[str] = set()

    def observe(self, ref: InstrumentRef) -> str | None:
        """A warning when `ref` is flagged and its symbol has not been warned about today, else None."""
        if not ref.attention_flag:
            return None
        today = taipei_date(self.clock.wall_ns())
        if today != self._day:
            self._day, self._warned = today, set()
        if ref.symbol in self._warned:
            return None
        self._warned.add(ref.symbol)
        return f"{ref.symbol} is on the exchange's attention list: unusual trading announced"
