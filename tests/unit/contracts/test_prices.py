"""contracts.prices: exact fixed-point ×10⁴ prices, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.prices import PRICE_SCALE, PriceError, format_price, to_decimal, to_e4

# Same examples every run, and no example database written into the repo.
REPEATABLE = settings(derandomize=True, database=None, deadline=None, max_examples=300)


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("580.5", 5_805_000),
        ("1000", 10_000_000),
        ("0.01", 100),
        ("0.0001", 1),
        ("13.55", 135_500),
        ("9.99", 99_900),
        ("580.5000", 5_805_000),
        ("1E+3", 10_000_000),
        (Decimal("49.95"), 499_500),
        (Decimal("0.1") + Decimal("0.2"), 3_000),
        (7, 70_000),
        ("0", 0),
    ],
)
def test_to_e4_is_exact(price: str | int | Decimal, expected: int) -> None:
    result = to_e4(price)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("price", [580.5, 0.1, 1000.0, float("nan")])
def test_to_e4_refuses_floats(price: float) -> None:
    with pytest.raises(PriceError, match="float"):
        to_e4(price)  # type: ignore[arg-type]


@pytest.mark.parametrize("price", ["0.00001", "580.12345", Decimal("1.00005"), "1e-5"])
def test_to_e4_refuses_more_than_four_decimals(price: str | Decimal) -> None:
    with pytest.raises(PriceError, match="more than 4 decimal places"):
        to_e4(price)


@pytest.mark.parametrize("price", ["abc", "", "1,000", "12.5.3"])
def test_to_e4_refuses_non_numbers(price: str) -> None:
    with pytest.raises(PriceError, match="not a decimal number"):
        to_e4(price)


def test_price_error_is_a_value_error() -> None:
    """Config validators raise it inside pydantic, which turns ValueErrors into field errors."""
    assert issubclass(PriceError, ValueError)


def test_to_e4_refuses_infinity_with_a_price_error() -> None:
    with pytest.raises(PriceError):
        to_e4("Infinity")


def test_to_e4_refuses_nan() -> None:
    with pytest.raises(PriceError):
        to_e4("NaN")


@pytest.mark.parametrize(
    ("price_e4", "text"),
    [
        (5_805_000, "580.5"),
        (10_000_000, "1000"),
        (100, "0.01"),
        (1, "0.0001"),
        (135_500, "13.55"),
        (0, "0"),
        (-5_000, "-0.5"),
        (1_000_000_000_000, "100000000"),
    ],
)
def test_format_price(price_e4: int, text: str) -> None:
    assert format_price(price_e4) == text


def test_to_decimal_is_exact() -> None:
    assert to_decimal(135_500) == Decimal("13.55")
    assert to_decimal(1) == Decimal("0.0001")


@REPEATABLE
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_then_parse_round_trips(price_e4: int) -> None:
    text = format_price(price_e4)
    assert to_e4(text) == price_e4
    assert "e" not in text.lower()
    assert not ("." in text and text.endswith("0"))


@REPEATABLE
@given(st.decimals(min_value=0, max_value=10**8, places=4, allow_nan=False, allow_infinity=False))
def test_any_four_decimal_price_is_exact(price: Decimal) -> None:
    assert to_e4(price) == price * PRICE_SCALE
    assert to_e4(str(price)) == to_e4(price)
