"""services.shioaji.sdk's conversions of the SDK's values: prices exact in fixed point, contract dates as ISO."""

from __future__ import annotations

import pytest

from contracts.prices import to_e4
from services.shioaji.sdk import date_from_sdk, date_to_sdk, price_from_sdk, price_to_sdk


@pytest.mark.parametrize("given, iso", [
    ("2026/11/26", "2026-11-26"),
    ("2026/1/5", "2026-01-05"),
    (" 2026/11/26 ", "2026-11-26"),
    ("", ""),
    ("yesterday", ""),
    ("2026-11-26", ""),
])
def test_a_contracts_update_date_reads_as_an_iso_day_or_nothing(given: str, iso: str) -> None:
    assert date_from_sdk(given) == iso


def test_an_iso_day_is_written_as_the_sdk_lists_it_and_reads_back() -> None:
    assert date_to_sdk("2026-11-26") == "2026/11/26"
    assert date_from_sdk(date_to_sdk("2026-11-26")) == "2026-11-26"


@pytest.mark.parametrize("price", ["16.05", "1000", "999.5", "0.01"])
def test_prices_go_through_the_sdks_floats_exactly(price: str) -> None:
    assert price_from_sdk(price_to_sdk(to_e4(price))) == to_e4(price)
