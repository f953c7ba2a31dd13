"""Disposition: a disposition stock's (處置股) caps on the lots of one order and of the day's orders.

When the exchange puts a stock under disposition it matches only every few minutes and caps how many
lots an investor may enter in one order and in all of the day's orders together (Shioaji's
StockInfo.disposition_max_lots_single_order / _total_orders; the regulator's list is api.punish(),
`unit_limit` and `total_limit`). The desk trades through one account, so the day's total is the
lots of every NEW risk approved for the symbol since midnight in Taipei, whatever the strategy:
counted from approval (an order the broker then refuses still counted against the cap, which errs
on the safe side). A cap of 0 is no cap. AMENDs only reduce quantity and cancels always pass.

The count lives in this process: a risk restarted during the day starts it again from zero (the
exchange still enforces its cap, so an order over it comes back as a broker reject).
"""

from __future__ import annotations

from contracts.enums import IntentAction, Reason
from contracts.market_rules import TAIPEI
from contracts.messages import InstrumentRef, OrderCommand, OrderIntent
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock

NS_PER_DAY = 86_400_000_000_000
_TAIPEI_OFFSET_NS = int(TAIPEI.utcoffset(None).total_seconds()) * 1_000_000_000


class DispositionValidator:
    def __init__(self, instruments: dict[str, InstrumentRef], clock: Clock) -> None:
        self.instruments = instruments
        self.clock = clock
        self.lots_today: dict[str, int] = {}
        self._day_ends_ns = 0

    def check(self, intent: OrderIntent) -> Rejection | None:
        if intent.action is not IntentAction.NEW:
            return None
        ref = self.instruments.get(intent.symbol)
        if ref is None:
            return None
        per_order = ref.disposition_max_lots_single_order
        if 0 < per_order < intent.qty:
            return Rejection(Reason.DISPOSITION_ORDER_LOTS,
                             f"{intent.symbol} is a disposition stock: at most {per_order} lots an order, "
                             f"not {intent.qty}")
        total = ref.disposition_max_lots_total_orders
        if total > 0:
            entered = self._lots_today().get(intent.symbol, 0)
            if entered + intent.qty > total:
                return Rejection(Reason.DISPOSITION_TOTAL_LOTS,
                                 f"{intent.symbol} is a disposition stock: at most {total} lots a day, "
                                 f"{entered} entered, {intent.qty} more asked")
        return None

    def on_approved(self, command: OrderCommand) -> None:
        """Count an approved NEW against its symbol's day."""
        if command.action is IntentAction.NEW:
            lots = self._lots_today()
            lots[command.symbol] = lots.get(command.symbol, 0) + command.qty

    def _lots_today(self) -> dict[str, int]:
        """The day's counts, emptied at the first call after midnight in Taipei."""
        now_ns = self.clock.wall_ns()
        if now_ns >= self._day_ends_ns:
            self.lots_today.clear()
            local_ns = now_ns + _TAIPEI_OFFSET_NS
            self._day_ends_ns = local_ns - local_ns % NS_PER_DAY + NS_PER_DAY - _TAIPEI_OFFSET_NS
        return self.lots_today
