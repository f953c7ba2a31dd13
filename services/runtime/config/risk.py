"""The `risk:` section of stack.yaml: where risk keeps its desk state, how often it writes it, and when the
desk's trading day begins."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.market_rules import DESK_DAY_ROLLOVER


class RiskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state_file: Path = Field(Path("risk-state.json"),
                             description="risk's desk state (positions, outstanding, PnL, drawdown peaks, its own "
                                         "StormGuard levels, the marks, the execution report seq it covers), kept "
                                         "across restarts; relative to the stack's var_dir")
    state_interval_ms: int = Field(1000, gt=0, description="how often the state file is written (and at stop): "
                                                           "after a kill -9 the reports since are replayed on it")
    day_rollover: time = Field(DESK_DAY_ROLLOVER,
                               description="Taipei time the desk's trading day begins: daily PnL, drawdown peaks, "
                                           "drawdown levels and order-rate windows start fresh")

    @field_validator("day_rollover", mode="before")
    @classmethod
    def _written_as_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 8:00 as the sexagesimal integer 480, which pydantic would take as seconds.
        if isinstance(value, int | float):
            raise ValueError(f"write the time as a quoted HH:MM string, e.g. '08:00' (YAML read {value!r})")
        return value

    @field_validator("day_rollover")
    @classmethod
    def _taipei_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("the rollover is Taipei time: write it without a UTC offset")
        return value
