"""The one import of the Shioaji SDK, and the conversions at its edge.

`import shioaji` writes ./shioaji.log unless SJ_LOG_PATH says otherwise, so it is set (if unset) to
/dev/null before the import. The SDK carries prices as floats: they are converted here, exactly,
to and from the fixed-point ×10⁴ integers every other module uses (contracts/prices.py).
"""

from __future__ import annotations

import os
from decimal import Decimal

os.environ.setdefault("SJ_LOG_PATH", os.devnull)

import shioaji as sj  # after SJ_LOG_PATH is set

from contracts.prices import PRICE_SCALE, to_e4

__all__ = ["date_from_sdk", "date_to_sdk", "price_from_sdk", "price_to_sdk", "sj"]

_E4 = PRICE_SCALE
_QUANTUM = Decimal(1) / _E4


def price_to_sdk(price_e4: int) -> float:
    """A fixed-point price as the float the SDK wants; every legal price (ticks of 0.01 and up) round-trips."""
    return price_e4 / _E4


def price_from_sdk(price: float | str) -> int:
    """A price the SDK gave (float, or a decimal string in quotes) as fixed-point ×10⁴.

    A float goes through its shortest repr, which for a two-decimal price is that price exactly.
    """
    return to_e4(Decimal(str(price)).quantize(_QUANTUM))


def date_from_sdk(update_date: str) -> str:
    """A contract's `update_date` ("2026/11/26", the day its reference data is for) as YYYY-MM-DD; "" when
    the SDK gives none or something else."""
    parts = update_date.strip().split("/") if isinstance(update_date, str) else []
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return ""
    year, month, day = parts
    return f"{year}-{month.zfill(2)}-{day.zfill(2)}"


def date_to_sdk(iso_date: str) -> str:
    """YYYY-MM-DD as a contract's `update_date`."""
    return iso_date.replace("-", "/")
