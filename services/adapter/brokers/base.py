"""The broker interface the order manager drives, shaped like Shioaji's asynchronous order API.

Calls return at once; what the broker did arrives later as BrokerEvents through the callback
given to `set_event_callback` (Shioaji's set_order_callback), always on the adapter's loop thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from contracts.enums import ExecType
from contracts.messages import OrderCommand


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    """One answer from the broker. For FILL, price/qty are the fill's; for AMENDED, the new price."""

    kind: ExecType
    client_order_id: str
    broker_order_id: str = ""
    price_e4: int = 0
    qty: int = 0
    detail: str = ""


BrokerEventCallback = Callable[[BrokerEvent], None]


class Broker(Protocol):
    def set_event_callback(self, callback: BrokerEventCallback) -> None: ...

    def place(self, command: OrderCommand) -> None: ...

    def amend_price(self, client_order_id: str, price_e4: int) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...
