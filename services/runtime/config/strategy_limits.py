"""config/strategy_limits.yaml: which strategies run, with what parameters, budgets and limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from contracts.enums import StormGuardLevel
from services.runtime.config.stack import Strict


class OrderLimits(Strict):
    """Per-strategy limits. Quantities are lots (stocks, 1000 shares each) or contracts (futures)."""

    max_order_qty: int = Field(10, gt=0, description="per order")
    max_order_notional_twd: Decimal = Field(Decimal(20_000_000), gt=0, description="per order")
    max_position_qty: int = Field(50, gt=0, description="per symbol, position plus same-side outstanding")
    max_gross_notional_twd: Decimal = Field(Decimal(200_000_000), gt=0,
                                            description="all symbols: |positions| + outstanding, marked")
    max_orders_per_window: int = Field(200, gt=0, description="NEW and AMEND intents per rate window")
    rate_window_ms: int = Field(1000, gt=0)


class StormGuardConfig(Strict):
    """Drawdown thresholds (percent of allocated capital) and what each level does."""

    warm_drawdown_pct: Decimal = Field(Decimal("0.5"), gt=0)
    storm_drawdown_pct: Decimal = Field(Decimal("1.0"), gt=0)
    halt_drawdown_pct: Decimal = Field(Decimal("1.5"), gt=0)
    hysteresis_pct: Decimal = Field(Decimal("0.1"), ge=0, description="recover this far past a threshold")
    min_dwell_s: float = Field(30.0, ge=0, description="time at a level before stepping down one")
    warm_size_multiplier: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    warm_rate_multiplier: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    usage_warm_actions: int = Field(150, gt=0, description="broker actions per 10 s that mean WARM")
    usage_slow_actions: int = Field(180, gt=0, description="... that slow every order rate further")
    usage_halt_actions: int = Field(230, gt=0, description="... that mean HALT")
    slow_rate_multiplier: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    breaker_open_level: StormGuardLevel = StormGuardLevel.STORM
    mark_interval_ms: int = Field(200, gt=0, description="how often positions are revalued at the book")

    @model_validator(mode="after")
    def _ordered(self) -> StormGuardConfig:
        if not self.warm_drawdown_pct < self.storm_drawdown_pct < self.halt_drawdown_pct:
            raise ValueError("drawdown thresholds must rise: warm < storm < halt")
        if not self.usage_warm_actions < self.usage_slow_actions < self.usage_halt_actions:
            raise ValueError("broker usage thresholds must rise: warm < slow < halt")
        if self.hysteresis_pct >= self.warm_drawdown_pct:
            raise ValueError("hysteresis must be smaller than the WARM threshold")
        return self


class StormGuardOverrides(Strict):
    """A strategy's own drawdown thresholds and effects; unset fields take the desk's."""

    warm_drawdown_pct: Decimal | None = Field(None, gt=0)
    storm_drawdown_pct: Decimal | None = Field(None, gt=0)
    halt_drawdown_pct: Decimal | None = Field(None, gt=0)
    hysteresis_pct: Decimal | None = Field(None, ge=0)
    min_dwell_s: float | None = Field(None, ge=0)
    warm_size_multiplier: Decimal | None = Field(None, gt=0, le=1)
    warm_rate_multiplier: Decimal | None = Field(None, gt=0, le=1)


class CostConfig(Strict):
    """Taiwan trading costs, so PnL is what a strategy really makes."""

    stock_commission_pct: Decimal = Field(Decimal("0.1425"), ge=0, description="each side, before discount")
    commission_discount: Decimal = Field(Decimal("1.0"), gt=0, le=1, description="multiplier, e.g. 0.28")
    min_stock_commission_twd: Decimal = Field(Decimal("20"), ge=0, description="per order fill")
    stock_sell_tax_pct: Decimal = Field(Decimal("0.3"), ge=0, description="shares, on sells")
    day_trade_sell_tax_pct: Decimal = Field(Decimal("0.15"), ge=0, description="shares, on a sell that closes lots "
                                                                               "bought the same trading day, or "
                                                                               "sold short and bought back that day")
    day_trade_tax_until: date = Field(date(2027, 12, 31), description="last trading day the day-trade rate is in "
                                                                      "force (the law's end date); later, the normal")
    day_trade_when_unknown: bool = Field(False, description="the day-trade rate for a stock whose reference data "
                                                            "does not say whether it may be day traded")
    fund_sell_tax_pct: Decimal = Field(Decimal("0.1"), ge=0, description="ETFs and other beneficiary certificates, "
                                                                         "ETNs, TDRs and warrants, on sells")
    futures_commission_twd: Decimal = Field(Decimal("50"), ge=0, description="per contract, each side")
    futures_tax_pct: Decimal = Field(Decimal("0.002"), ge=0, description="of notional, each side")


class BookChecks(Strict):
    """Checks against the live book."""

    band_pct: Decimal = Field(Decimal("5"), gt=0, description="limit price within this % of the reference")
    band_reference: str = Field("mid", pattern="^(mid|last)$")
    max_ticks_through: int = Field(5, ge=0, description="a marketable order goes at most this far through")
    max_book_age_ms: int = Field(5000, gt=0, description="older books refuse new orders")


class StrategyEntry(Strict):
    """One strategy: hosted by the runner (`class` names its Python class), or external (no `class`: a
    process of its own, in any language, that speaks the wire, docs/wire.md). Risk applies the limits of
    both; control shows whether an external one is connected, from its heartbeats."""

    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    class_path: str | None = Field(None, alias="class", pattern=r"^[\w.]+:\w+$")
    enabled: bool = True
    symbols: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    budget_us: int = Field(500, gt=0)
    disable_on_budget_violations: bool = Field(False, description="disable after >3 budget violations a minute")
    intent_ttl_ms: int = Field(500, gt=0, description="deadline stamped on every intent")
    limits: OrderLimits = OrderLimits()
    capital_twd: Decimal = Field(Decimal(10_000_000), gt=0, description="allocated capital, for drawdown")
    stormguard: StormGuardOverrides | None = None
    commission_discount: Decimal | None = Field(None, gt=0, le=1, description="the broker's discount for this "
                                                "strategy's account; unset takes costs.commission_discount")
    publish_approvals: bool = Field(False, description="risk also publishes a RiskDecision for every approved "
                                                       "intent of this strategy (rejects always are)")

    @property
    def external(self) -> bool:
        """No class: the runner never hosts it; it connects to risk and control itself."""
        return self.class_path is None


class GlobalLimits(Strict):
    capital_twd: Decimal = Field(Decimal(100_000_000), gt=0)
    max_gross_notional_twd: Decimal = Field(Decimal(500_000_000), gt=0)
    max_orders_per_window: int = Field(400, gt=0)
    rate_window_ms: int = Field(1000, gt=0)
    duplicate_memory: int = Field(100_000, gt=0, description="at most this many intent ids remembered for duplicate "
                                                            "checks; each is forgotten once its deadline has passed "
                                                            "(a copy is refused as stale then)")


class StrategyLimitsConfig(Strict):
    strategies: list[StrategyEntry] = Field(default_factory=list)
    global_limits: GlobalLimits = Field(GlobalLimits(), alias="global")
    stormguard: StormGuardConfig = StormGuardConfig()
    costs: CostConfig = CostConfig()
    book: BookChecks = BookChecks()

    @field_validator("strategies")
    @classmethod
    def _unique_ids(cls, entries: list[StrategyEntry]) -> list[StrategyEntry]:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                raise ValueError(f"strategy id {entry.id!r} appears twice")
            seen.add(entry.id)
        return entries

    @model_validator(mode="after")
    def _overrides_are_consistent(self) -> StrategyLimitsConfig:
        for entry in self.strategies:
            try:
                self.stormguard_for(entry.id)
            except ValueError as exc:
                raise ValueError(f"strategy {entry.id}: stormguard overrides: {exc}") from None
        return self

    def stormguard_for(self, strategy_id: str) -> StormGuardConfig:
        """The desk's StormGuard settings with the strategy's own overrides applied (validated)."""
        entry = next((e for e in self.strategies if e.id == strategy_id), None)
        if entry is None or entry.stormguard is None:
            return self.stormguard
        overrides = entry.stormguard.model_dump(exclude_none=True)
        return StormGuardConfig.model_validate({**self.stormguard.model_dump(), **overrides})

    def costs_for(self, strategy_id: str) -> CostConfig:
        """The desk's costs with the strategy's own commission discount, if it has one."""
        entry = next((e for e in self.strategies if e.id == strategy_id), None)
        if entry is None or entry.commission_discount is None:
            return self.costs
        return self.costs.model_copy(update={"commission_discount": entry.commission_discount})

    def by_id(self) -> dict[str, StrategyEntry]:
        return {entry.id: entry for entry in self.strategies}
