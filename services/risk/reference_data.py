"""The broker's reference data of the day (InstrumentRef off md, from the feed's Shioaji quote bridge)
taking the place of config/instruments.yaml's entry for a symbol risk already trades.

The file is what risk starts with; daily limits move every session, and the broker's are the
authoritative ones. A ref replaces the entry in the one instruments dict every check holds, so the
next intent is checked against it. A ref for a symbol the file does not list is ignored (risk's
checks are built over the file's symbols; add it to the file to trade it), and one that
contradicts itself or the file's kind is refused: it would widen or close the price band on bad data.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from contracts.messages import InstrumentRef


class RefOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNKNOWN_SYMBOL = "unknown_symbol"
    INVALID = "invalid"


def apply_reference(instruments: dict[str, InstrumentRef], ref: InstrumentRef) -> tuple[RefOutcome, str]:
    """Put `ref` in place of its symbol's entry when it is sound; returns what happened and why."""
    current = instruments.get(ref.symbol)
    if current is None:
        return RefOutcome.UNKNOWN_SYMBOL, f"{ref.symbol} is not in the instruments file"
    if ref.kind is not current.kind:
        return RefOutcome.INVALID, f"kind {ref.kind} differs from the file's {current.kind}"
    if ref.unit <= 0:
        return RefOutcome.INVALID, f"unit {ref.unit} is not positive"
    if not 0 < ref.limit_down_e4 <= ref.reference_e4 <= ref.limit_up_e4:
        return RefOutcome.INVALID, (f"limits down {ref.limit_down_e4} / reference {ref.reference_e4} / "
                                    f"up {ref.limit_up_e4} (e4) are not in order")
    # The wire's numbering is not reference data; a broker that gives no tick (stocks use the ladder) keeps the file's.
    ref = msgspec.structs.replace(ref, seq=0, tick_e4=ref.tick_e4 or current.tick_e4)
    if ref == current:
        return RefOutcome.UNCHANGED, "same as in force"
    instruments[ref.symbol] = ref
    return RefOutcome.APPLIED, (f"reference {current.reference_e4} -> {ref.reference_e4}, limits "
                                f"{current.limit_down_e4}..{current.limit_up_e4} -> "
                                f"{ref.limit_down_e4}..{ref.limit_up_e4} (e4)")
