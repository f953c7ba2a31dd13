"""Pre-trade validators, one module each. A check returns a Rejection or None."""

from services.risk.validators.base import Rejection, Validator

__all__ = ["Rejection", "Validator"]
