"""config/strategy_limits.yaml: which strategies run, with what parameters, budgets and limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from services.runtime.config.stack import Strict


class OrderLimits(Strict):
    max_order_qty: int = Field(10, gt=0, description="per order, in lots (stocks) or contracts")
    max_order_notional_twd: Decimal = Field(Decimal(20_000_000), gt=0)


class StrategyEntry(Strict):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    class_path: str = Field(alias="class", pattern=r"^[\w.]+:\w+$")
    enabled: bool = True
    symbols: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    budget_us: int = Field(500, gt=0)
    intent_ttl_ms: int = Field(500, gt=0, description="deadline stamped on every intent")
    limits: OrderLimits = OrderLimits()


class StrategyLimitsConfig(Strict):
    strategies: list[StrategyEntry] = Field(default_factory=list)

    @field_validator("strategies")
    @classmethod
    def _unique_ids(cls, entries: list[StrategyEntry]) -> list[StrategyEntry]:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                raise ValueError(f"strategy id {entry.id!r} appears twice")
            seen.add(entry.id)
        return entries

    def by_id(self) -> dict[str, StrategyEntry]:
        return {entry.id: entry for entry in self.strategies}
