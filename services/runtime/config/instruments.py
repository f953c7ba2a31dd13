"""config/instruments.yaml: reference data for every tradable symbol, turned into InstrumentRef."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from contracts.enums import DayTrade, InstrumentKind
from contracts.market_rules import (
    BOARD_LOT_SHARES,
    KINDS_WITH_PERCENT_LIMIT,
    daily_limits_e4,
    index_future_of,
    is_on_tick,
)
from contracts.messages import InstrumentRef
from contracts.prices import to_e4
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import Strict


class InstrumentEntry(Strict):
    symbol: str = Field(min_length=1)
    kind: InstrumentKind = Field(InstrumentKind.STOCK, description="stock, etf, etn, tdr, warrant or future")
    reference: Decimal = Field(gt=0)
    limit_up: Decimal | None = None
    limit_down: Decimal | None = None
    unit: int | None = Field(None, gt=0, description="shares per lot (1000), or TWD per point (TXF 200, MXF 50)")
    tick: Decimal | None = Field(None, gt=0, description="futures tick (TXF, MXF: 1); the others use their "
                                                           "kind's ladder")
    # The regulator's state, as the broker's contract (Shioaji's StockInfo) gives it: for the simulator
    # and the fake; live, the quote bridge's reference data of the day replaces it.
    day_trade: DayTrade | None = None
    trading_suspended: bool = False
    attention_flag: bool = False
    disposition_level: int = Field(0, ge=0)
    disposition_match_interval_min: int = Field(0, ge=0)
    disposition_max_lots_single_order: int = Field(0, ge=0, description="0: no cap")
    disposition_max_lots_total_orders: int = Field(0, ge=0, description="0: no cap")
    disposition_prepay_ratio: float = Field(0.0, ge=0, le=1)

    @field_validator("day_trade", mode="before")
    @classmethod
    def _yes_or_no(cls, value: object) -> object:
        """YAML reads an unquoted yes / no as a boolean."""
        if isinstance(value, bool):
            return DayTrade.YES if value else DayTrade.NO
        return value

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentEntry:
        product = index_future_of(self.symbol) if self.kind is InstrumentKind.FUTURE else None
        if self.kind is InstrumentKind.FUTURE and product is None and (self.tick is None or self.unit is None):
            raise ValueError("a future needs its tick size and unit (TWD per point)")
        if product is not None and self.unit not in (None, product.point_value_twd):
            raise ValueError(f"{product.product} is {product.point_value_twd} TWD a point, not {self.unit}")
        if self.kind not in KINDS_WITH_PERCENT_LIMIT and (self.limit_up is None or self.limit_down is None):
            raise ValueError(f"a {self.kind}'s daily limits follow its underlying: give limit_up and limit_down")
        if not is_on_tick(self.to_ref(), to_e4(self.reference)):
            raise ValueError(f"reference {self.reference} is not a legal price for {self.symbol}")
        return self

    def to_ref(self) -> InstrumentRef:
        reference_e4 = to_e4(self.reference)
        product = index_future_of(self.symbol) if self.kind is InstrumentKind.FUTURE else None
        tick_e4 = to_e4(self.tick) if self.tick is not None else product.tick_e4 if product is not None else 0
        unit = self.unit or (product.point_value_twd if product is not None else BOARD_LOT_SHARES)
        limit_down_e4 = to_e4(self.limit_down) if self.limit_down is not None else None
        limit_up_e4 = to_e4(self.limit_up) if self.limit_up is not None else None
        if limit_down_e4 is None or limit_up_e4 is None:
            default_down_e4, default_up_e4 = daily_limits_e4(self.kind, reference_e4, tick_e4)
            limit_down_e4 = default_down_e4 if limit_down_e4 is None else limit_down_e4
            limit_up_e4 = default_up_e4 if limit_up_e4 is None else limit_up_e4
        return InstrumentRef(
            symbol=self.symbol,
            kind=self.kind,
            reference_e4=reference_e4,
            limit_up_e4=limit_up_e4,
            limit_down_e4=limit_down_e4,
            unit=unit,
            tick_e4=tick_e4,
            day_trade=self.day_trade,
            trading_suspended=self.trading_suspended,
            attention_flag=self.attention_flag,
            disposition_level=self.disposition_level,
            disposition_match_interval_min=self.disposition_match_interval_min,
            disposition_max_lots_single_order=self.disposition_max_lots_single_order,
            disposition_max_lots_total_orders=self.disposition_max_lots_total_orders,
            disposition_prepay_ratio=self.disposition_prepay_ratio,
        )


class InstrumentsConfig(Strict):
    instruments: list[InstrumentEntry] = Field(min_length=1)


def load_instruments(path: Path) -> dict[str, InstrumentRef]:
    """Symbol → InstrumentRef for every instrument in the file."""
    config = load_yaml_model(path, InstrumentsConfig)
    return {entry.symbol: entry.to_ref() for entry in config.instruments}
