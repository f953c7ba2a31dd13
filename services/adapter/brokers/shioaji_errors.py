"""Shioaji's exceptions in the adapter's terms (brokers/base.py), so the order manager knows what to do.

- TokenError (401): Shioaji has no rate-limit exception, and over-use of the order budget surfaces as
  "Token is expired": BrokerRateLimited, which opens the breaker at once (so would a truly expired
  token: either way nothing more should be sent).
- ResponseError and its OrderOutcomeUnknownError (409), ShioajiTimeoutError: the call may have reached
  the broker: BrokerOutcomeUnknown, never resent, the order is queried.
- AuthError, ShioajiConnectionError, SystemMaintenance (503): no session: BrokerSessionDown.
- Anything else the SDK refuses (ValidationError, BadRequestError, ShioajiValueError, ...): BrokerError.
"""

from __future__ import annotations

from services.adapter.brokers.base import BrokerError, BrokerOutcomeUnknown, BrokerRateLimited, BrokerSessionDown
from services.shioaji.sdk import sj


def broker_error(exc: Exception) -> BrokerError:
    """The BrokerError to raise for an exception the SDK raised."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, sj.TokenError):
        return BrokerRateLimited(text)
    if isinstance(exc, sj.ResponseError | sj.ShioajiTimeoutError):
        return BrokerOutcomeUnknown(text)
    if isinstance(exc, sj.AuthError | sj.ShioajiConnectionError | sj.SystemMaintenance):
        return BrokerSessionDown(text)
    return BrokerError(text)
