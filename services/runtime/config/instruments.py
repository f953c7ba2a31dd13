"""config/instruments.yaml: reference data for every tradable symbol, turned into InstrumentRef."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, model_validator

from contracts.enums import InstrumentKind
from contracts.market_rules import BOARD_LOT_SHARES, daily_limits_e4, is_on_tick
from contracts.messages import InstrumentRef
from contracts.prices import to_e4
from services.runtime.config.loader import load_yaml_model
from services.runtime.config.stack import Strict


class InstrumentEntry(Strict):
    symbol: str = Field(min_length=1)
    kind: InstrumentKind = InstrumentKind.STOCK
    reference: Decimal = Field(gt=0)
    limit_up: Decimal | None = None
    limit_down: Decimal | None = None
    unit: int = Field(BOARD_LOT_SHARES, gt=0, description="shares per lot, or TWD per point")
    tick: Decimal | None = Field(None, gt=0, description="futures tick; stocks use the TWSE ladder")

    @model_validator(mode="after")
    def _consistent(self) -> InstrumentEntry:
        if self.kind is InstrumentKind.FUTURE and self.tick is None:
            raise ValueError("a future needs its tick size")
        if not is_on_tick(self.to_ref(), to_e4(self.reference)):
            raise ValueError(f"reference {self.reference} is not a legal price for {self.symbol}")
        return self

    def to_ref(self) -> InstrumentRef:
        reference_e4 = to_e4(self.reference)
        tick_e4 = to_e4(self.tick) if self.tick is not None else 0
        limit_down_e4, limit_up_e4 = daily_limits_e4(self.kind, reference_e4, tick_e4)
        return InstrumentRef(
            symbol=self.symbol,
            kind=self.kind,
            reference_e4=reference_e4,
            limit_up_e4=to_e4(self.limit_up) if self.limit_up is not None else limit_up_e4,
            limit_down_e4=to_e4(self.limit_down) if self.limit_down is not None else limit_down_e4,
            unit=self.unit,
            tick_e4=tick_e4,
        )


class InstrumentsConfig(Strict):
    instruments: list[InstrumentEntry] = Field(min_length=1)


def load_instruments(path: Path) -> dict[str, InstrumentRef]:
    """Symbol → InstrumentRef for every instrument in the file."""
    config = load_yaml_model(path, InstrumentsConfig)
    return {entry.symbol: entry.to_ref() for entry in config.instruments}
