"""Disposition: a disposition stock's (處置股) caps on lots, and no churning of its quotes between matches.

When the exchange puts a stock under disposition it matches only every few minutes and caps how many
lots an investor may enter in one order and in all of the day's orders together (Shioaji's
StockInfo.disposition_match_interval_min, disposition_max_lots_single_order / _total_orders; the
regulator's list is api.punish(), `unit_limit` and `total_limit`). Cancels always pass: blocking a
cancel is riskier than any of these.

Lot caps. The desk trades through one account, so the day's total is the lots of every NEW risk
approved for the symbol since midnight in Taipei, whatever the strategy: counted from approval (an
order the broker then refuses still counted against the cap, which errs on the safe side). A cap of 0
is no cap. AMENDs only reduce quantity, so only NEWs are capped.

Match interval. Between two matches nothing trades, so an order changed more than once an interval
gains nothing and spends the broker's order budget (shared by the whole desk): a quote of a disposition
stock may change once per interval. Risk refuses (`disposition_churn`) a strategy's AMEND, and its NEW,
on a symbol whose reference says `disposition_match_interval_min > 0` while an order of that strategy,
symbol and side that is still working had a NEW or AMEND approved less than the interval ago: a NEW
beside such an order is the cancel-and-replace form of the same churn. By side, because a two-sided
quote is not churn: a quoter may place its bid and its ask in the same interval. Only working orders
count: once the match fills an order, or its cancel is confirmed, the strategy may quote afresh (the
next match is what it quotes for). Times are the clock's monotonic ones; approvals made before the
symbol's reference said it was under disposition, or before a restart of risk, are not known and do not
refuse anything. For any other symbol the check is one dict lookup.

Both counts live in this process: a risk restarted during the day starts them again (the exchange still
enforces its caps, so an order over them comes back as a broker reject).
"""

from __future__ import annotations

from contracts.enums import Reason, Side
from contracts.market_rules import TAIPEI
from contracts.messages import InstrumentRef, OrderCommand, OrderIntent
from services.risk.members import CANCEL, NEW
from services.risk.positions import PositionBook
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock

NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S
_TAIPEI_OFFSET_NS = int(TAIPEI.utcoffset(None).total_seconds()) * NS_PER_S

QuoteKey = tuple[str, str, Side]
"""(strategy_id, symbol, side): one side of a strategy's quote in a symbol."""


class DispositionValidator:
    def __init__(self, instruments: dict[str, InstrumentRef], clock: Clock, positions: PositionBook) -> None:
        self.instruments = instruments
        self.clock = clock
        self.positions = positions
        self.lots_today: dict[str, int] = {}
        self._day_ends_ns = 0
        self.changes: dict[QuoteKey, dict[str, int]] = {}
        """Per quote side of a symbol with a match interval: client_order_id -> when risk last approved a NEW
        or AMEND of that order (monotonic ns). Pruned of orders no longer working or past their interval
        whenever the same side is checked, so it holds little more than the orders that can still refuse."""

    def check(self, intent: OrderIntent) -> Rejection | None:
        if intent.action is CANCEL:
            return None
        ref = self.instruments.get(intent.symbol)
        if ref is None:
            return None
        if intent.action is NEW:
            rejection = self._check_lots(intent, ref)
            if rejection is not None:
                return rejection
        if ref.disposition_match_interval_min > 0:
            return self._check_churn(intent, ref.disposition_match_interval_min)
        return None

    def _check_lots(self, intent: OrderIntent, ref: InstrumentRef) -> Rejection | None:
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

    def _check_churn(self, intent: OrderIntent, interval_min: int) -> Rejection | None:
        key = (intent.strategy_id, intent.symbol, intent.side)
        orders = self.changes.get(key)
        if not orders:
            return None
        interval_ns = interval_min * NS_PER_MIN
        now_ns = self.clock.mono_ns()
        working = self.positions.working
        for client_order_id, changed_ns in list(orders.items()):
            if client_order_id not in working or now_ns - changed_ns >= interval_ns:
                del orders[client_order_id]
        if not orders:
            del self.changes[key]
            return None
        client_order_id, changed_ns = max(orders.items(), key=lambda item: item[1])
        return Rejection(Reason.DISPOSITION_CHURN,
                         f"{intent.symbol} is a disposition stock matched every {interval_min} min: "
                         f"{intent.side} order {client_order_id} changed {(now_ns - changed_ns) // NS_PER_S} s ago, "
                         f"next change in {(changed_ns + interval_ns - now_ns + NS_PER_S - 1) // NS_PER_S} s")

    def on_approved(self, command: OrderCommand) -> None:
        """Take an approved NEW or AMEND (never a cancel: it is no change of the quote) into the counts: a
        NEW's lots against its symbol's day, and the time of the change if its symbol has a match interval."""
        if command.action is NEW:
            lots = self._lots_today()
            lots[command.symbol] = lots.get(command.symbol, 0) + command.qty
        ref = self.instruments.get(command.symbol)
        if ref is not None and ref.disposition_match_interval_min > 0:
            key = (command.strategy_id, command.symbol, command.side)
            self.changes.setdefault(key, {})[command.client_order_id] = command.approved_mono_ns

    def _lots_today(self) -> dict[str, int]:
        """The day's counts, emptied at the first call after midnight in Taipei."""
        now_ns = self.clock.wall_ns()
        if now_ns >= self._day_ends_ns:
            self.lots_today.clear()
            local_ns = now_ns + _TAIPEI_OFFSET_NS
            self._day_ends_ns = local_ns - local_ns % NS_PER_DAY + NS_PER_DAY - _TAIPEI_OFFSET_NS
        return self.lots_today
