"""Staleness: an intent that arrives past its deadline is refused (an old order is a wrong order)."""

from __future__ import annotations

from contracts.enums import Reason
from contracts.messages import OrderIntent
from services.risk.validators.base import Rejection
from services.runtime.clock import Clock


class StalenessValidator:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def check(self, intent: OrderIntent) -> Rejection | None:
        late_ns = self.clock.mono_ns() - intent.deadline_ns
        if late_ns > 0:
            return Rejection(Reason.STALE_INTENT, f"{late_ns / 1e6:.3f} ms past its deadline")
        return None
