"""RiskEngine: runs each intent through the validator chain and turns it into an order or a reject.

Order of the chain: cheapest and most often rejecting first, stop at the first reject. Cancels
pass every check: blocking a cancel is riskier than any breach. The engine acts on the stricter
of its own StormGuard view and control's broadcast (in this skeleton: control's broadcast only).
"""

from __future__ import annotations

from contracts.enums import IntentAction, Reason, StormGuardLevel
from contracts.messages import InstrumentRef, OrderCommand, OrderIntent, RiskDecision, StormGuardState
from services.risk.validators.base import Rejection, Validator
from services.risk.validators.price_band import PriceBandValidator
from services.risk.validators.size_notional import SizeNotionalValidator
from services.risk.validators.staleness import StalenessValidator
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import StrategyLimitsConfig


class RiskEngine:
    def __init__(
        self, clock: Clock, limits: StrategyLimitsConfig, instruments: dict[str, InstrumentRef]
    ) -> None:
        self.clock = clock
        self.enabled = {entry.id: entry.enabled for entry in limits.strategies}
        self.global_level = StormGuardLevel.NORMAL
        self.strategy_levels: dict[str, StormGuardLevel] = {}
        self.hold_fire = False
        order_limits = {entry.id: entry.limits for entry in limits.strategies}
        self.validators: tuple[Validator, ...] = (
            StalenessValidator(clock),
            PriceBandValidator(instruments),
            SizeNotionalValidator(instruments, order_limits),
        )

    def level_for(self, strategy_id: str) -> StormGuardLevel:
        own = self.strategy_levels.get(strategy_id, StormGuardLevel.NORMAL)
        return own if own.severity >= self.global_level.severity else self.global_level

    def _gate(self, intent: OrderIntent, level: StormGuardLevel) -> Rejection | None:
        if not self.enabled.get(intent.strategy_id, False):
            return Rejection(Reason.STRATEGY_DISABLED, f"{intent.strategy_id} is not enabled in risk")
        if level is StormGuardLevel.HALT:
            return Rejection(Reason.STORMGUARD_HALT, "HALT passes nothing but cancels")
        if self.hold_fire:
            return Rejection(Reason.HOLD_FIRE, "operator hold fire")
        return None

    def evaluate(self, intent: OrderIntent) -> OrderCommand | RiskDecision:
        """An approved, sanitized command for the adapter, or a reject for the strategy."""
        level = self.level_for(intent.strategy_id)
        if intent.action is not IntentAction.CANCEL:
            rejection = self._gate(intent, level)
            if rejection is None:
                for validator in self.validators:
                    rejection = validator.check(intent)
                    if rejection is not None:
                        break
            if rejection is not None:
                return RiskDecision(
                    seq=0, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                    client_order_id=intent.client_order_id, action=intent.action, approved=False,
                    reason=rejection.reason, detail=rejection.detail, stormguard_state=level,
                    ts_ns=self.clock.wall_ns(),
                )
        return OrderCommand(
            intent_id=intent.intent_id, strategy_id=intent.strategy_id, action=intent.action,
            client_order_id=intent.client_order_id, symbol=intent.symbol, side=intent.side, qty=intent.qty,
            price_e4=intent.price_e4, price_type=intent.price_type, tif=intent.tif, stormguard_state=level,
            ingest_ts_ns=intent.ingest_ts_ns, approved_mono_ns=self.clock.mono_ns(),
            deadline_ns=intent.deadline_ns,
        )

    def refused_downstream(self, command: OrderCommand, reason: Reason, detail: str) -> RiskDecision:
        """A reject for an approved command that could not be handed to the adapter."""
        return RiskDecision(
            seq=0, intent_id=command.intent_id, strategy_id=command.strategy_id,
            client_order_id=command.client_order_id, action=command.action, approved=False, reason=reason,
            detail=detail, stormguard_state=command.stormguard_state, ts_ns=self.clock.wall_ns(),
        )

    def on_stormguard(self, state: StormGuardState) -> None:
        self.global_level = state.global_level
        self.strategy_levels = dict(state.strategy_levels)
        self.hold_fire = state.hold_fire
