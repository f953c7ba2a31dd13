"""What a validator is: a plain object whose `check` returns why an intent must not pass, or None."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from contracts.enums import Reason
from contracts.messages import OrderIntent


class Rejection(NamedTuple):
    reason: Reason
    detail: str


class Validator(Protocol):
    def check(self, intent: OrderIntent) -> Rejection | None: ...
