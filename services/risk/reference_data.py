"""The broker's reference data of the day (InstrumentRef off md, from the feed's Shioaji quote bridge)
taking the place of config/instruments.yaml's entry for a symbol risk already trades.

The file is what risk starts with; daily limits move every session, and the broker's are the
authoritative ones. A ref replaces the entry in the one instruments dict the checks hold (the
batch checker's copies are refreshed by the engine), so the next intent is checked against it.
Refused, the file's entry (or the last ref taken) staying in force:
- a symbol the file does not list: risk's checks are built over the file's symbols;
- a ref for another trading day than today's in Taipei: a feed left running past its session would
  otherwise keep republishing yesterday's limits;
- a unit other than the file's: PnL keeps each fill's cost at the unit it filled with and marks at
  the current one, so a changed unit would move unrealized PnL by qty x price x the difference;
- limits out of order, or another kind of instrument.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from contracts.market_rules import taipei_date
from contracts.messages import InstrumentRef


class RefOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNKNOWN_SYMBOL = "unknown_symbol"
    INVALID = "invalid"


def apply_reference(instruments: dict[str, InstrumentRef], ref: InstrumentRef,
                    wall_ns: int) -> tuple[RefOutcome, str]:
    """Put `ref` in place of its symbol's entry when it is sound for the day of `wall_ns`; returns what
    happened and why."""
    current = instruments.get(ref.symbol)
    if current is None:
        return RefOutcome.UNKNOWN_SYMBOL, f"{ref.symbol} is not in the instruments file"
    today = taipei_date(wall_ns)
    if ref.trading_day != today:
        return RefOutcome.INVALID, f"reference data for trading day {ref.trading_day!r}, not today's {today}"
    if ref.kind is not current.kind:
        return RefOutcome.INVALID, f"kind {ref.kind} differs from the file's {current.kind}"
    if ref.unit != current.unit:
        return RefOutcome.INVALID, (f"unit {ref.unit} differs from the file's {current.unit}: fix the file and "
                                    "restart risk")
    if not 0 <= ref.tick_e4 <= ref.limit_up_e4:
        return RefOutcome.INVALID, f"tick {ref.tick_e4} (e4) is not between 0 and the limit up"
    if not 0 < ref.limit_down_e4 <= ref.reference_e4 <= ref.limit_up_e4:
        return RefOutcome.INVALID, (f"limits down {ref.limit_down_e4} / reference {ref.reference_e4} / "
                                    f"up {ref.limit_up_e4} (e4) are not in order")
    # Neither the wire's numbering nor the day is reference data; a broker that gives no tick (stocks use
    # the ladder) keeps the file's.
    ref = msgspec.structs.replace(ref, seq=0, trading_day="", tick_e4=ref.tick_e4 or current.tick_e4)
    if ref == current:
        return RefOutcome.UNCHANGED, "same as in force"
    instruments[ref.symbol] = ref
    return RefOutcome.APPLIED, (f"reference {current.reference_e4} -> {ref.reference_e4}, limits "
                                f"{current.limit_down_e4}..{current.limit_up_e4} -> "
                                f"{ref.limit_down_e4}..{ref.limit_up_e4} (e4)")
