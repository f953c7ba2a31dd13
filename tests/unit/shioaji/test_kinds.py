"""services.shioaji.kinds: the instrument kind of a Shioaji stock contract, by category, else by code."""

from __future__ import annotations

import pytest

from contracts.enums import InstrumentKind
from services.shioaji.kinds import kind_of_stock_contract


@pytest.mark.parametrize(
    ("category", "code", "kind"),
    [
        ("24", "2330", InstrumentKind.STOCK),
        ("17", "2890", InstrumentKind.STOCK),
        ("00", "0050", InstrumentKind.ETF),
        ("00", "00878", InstrumentKind.ETF),
        ("00", "00679B", InstrumentKind.ETF),
        (None, "00632R", InstrumentKind.ETF),
        ("", "01001T", InstrumentKind.ETF),
        ("00", "020000", InstrumentKind.ETN),
        (None, "020012", InstrumentKind.ETN),
        ("91", "9105", InstrumentKind.TDR),
        (None, "910322", InstrumentKind.TDR),
        (None, "030001", InstrumentKind.WARRANT),
        ("", "08123P", InstrumentKind.WARRANT),
        (None, "712345", InstrumentKind.WARRANT),
        (None, "6488", InstrumentKind.STOCK),
        ("", "2317", InstrumentKind.STOCK),
    ],
)
def test_kind_of_a_stock_contract(category: str | None, code: str, kind: InstrumentKind) -> None:
    assert kind_of_stock_contract(category, code) is kind
