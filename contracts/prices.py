"""Exact prices: every price on the wire is an integer number of 1/10,000 TWD (fields `*_e4`).

Why fixed-point integers rather than ticks: the TWSE ladder changes tick size with the price
level, so "number of ticks" is not a stable unit; 1/10,000 divides every tick on TWSE, TPEx and
TAIFEX (0.01 is the smallest), so every legal price is an exact integer, arithmetic never drifts,
and any other implementation reads it without a decimal library. Floats never carry a price.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

PRICE_SCALE = 10_000


class PriceError(ValueError):
    """A price that cannot be represented exactly at 1/10,000."""


def to_e4(price: str | int | Decimal) -> int:
    """Convert a decimal price ("580.5", Decimal, int) to fixed-point ×10⁴, refusing anything inexact."""
    if isinstance(price, float | bool):
        raise PriceError(f"price {price!r} is a {type(price).__name__}; pass a string or Decimal")
    try:
        scaled = Decimal(price) * PRICE_SCALE
    except (InvalidOperation, ValueError) as exc:
        raise PriceError(f"price {price!r} is not a decimal number") from exc
    if not scaled.is_finite():
        raise PriceError(f"price {price!r} is not a finite number")
    if scaled != scaled.to_integral_value():
        raise PriceError(f"price {price!r} has more than 4 decimal places")
    return int(scaled)


def to_decimal(price_e4: int) -> Decimal:
    """The exact decimal value of a fixed-point price."""
    return Decimal(price_e4) / PRICE_SCALE


def format_price(price_e4: int) -> str:
    """A human string without trailing zeros: 5805000 -> '580.5'."""
    text = format(to_decimal(price_e4), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
