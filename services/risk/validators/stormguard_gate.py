"""StormGuardGate: what each StormGuard level lets through, and the size it lets through at.

NORMAL passes everything; WARM scales a NEW's size by the configured multiplier (at least one
lot: a smaller order is still an order); STORM is close-only, passing only orders on the side
that reduces the position and no larger than what is left to close after same-side outstanding
orders; HALT passes nothing. Cancels never reach this gate: the engine lets them all through.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from contracts.enums import Reason, StormGuardLevel
from contracts.messages import OrderIntent
from services.risk.members import AMEND, BUY, HALT, STORM
from services.risk.positions import PositionBook
from services.risk.validators.base import Rejection


class StormGuardGate:
    def __init__(self, positions: PositionBook) -> None:
        self.positions = positions

    def check(self, intent: OrderIntent, level: StormGuardLevel) -> Rejection | None:
        if level is HALT:
            return Rejection(Reason.STORMGUARD_HALT, "HALT passes nothing but cancels")
        if level is STORM and not self._reduces(intent):
            position = self.positions.position(intent.strategy_id, intent.symbol)
            return Rejection(
                Reason.STORMGUARD_CLOSE_ONLY,
                f"STORM is close-only: position {position}, {intent.side} {intent.qty} would not reduce it",
            )
        return None

    def _reduces(self, intent: OrderIntent) -> bool:
        """A NEW must fit in what is left to close after same-side outstanding orders; an AMEND (price
        only) must be on the side that closes."""
        position = self.positions.position(intent.strategy_id, intent.symbol)
        to_close = -position if intent.side is BUY else position
        if intent.action is AMEND:
            return to_close > 0
        outstanding = self.positions.outstanding(intent.strategy_id, intent.symbol, intent.side)
        return 0 < intent.qty <= to_close - outstanding

    @staticmethod
    def scaled_qty(qty: int, multiplier: Decimal) -> int:
        """The size a NEW may have under the multiplier: floor, but never below one lot."""
        if multiplier >= 1:
            return qty
        return max(1, int((qty * multiplier).to_integral_value(rounding=ROUND_FLOOR)))
