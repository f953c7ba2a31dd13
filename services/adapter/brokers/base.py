"""The broker interface the order manager drives, shaped like Shioaji's asynchronous order API.

Calls return at once; what the broker did arrives later as BrokerEvents through the callback
given to `set_event_callback` (Shioaji's set_order_callback), always on the adapter's loop thread.
A call the broker refuses outright raises a BrokerError subclass, as Shioaji raises on over-use
or a dropped session; a call whose fate is unknown raises BrokerOutcomeUnknown and must never be
resent blindly: the order manager queries the order instead. A BrokerError says whether the call
may have been counted against the order budget (`sent`); only a call that provably never left
the process gives its budget slot back.

Answers the manager must tolerate, because the real broker sends them: deals before the ack,
the same deal twice (same `exec_id`), events for orders it has already closed, and no answer at
all (the call timed out, yet the order may still go live).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from contracts.enums import BrokerAction, ExecType, OrderStatus, Side
from contracts.messages import OrderCommand


class BrokerError(Exception):
    """The call failed at once. `sent=False` only when it provably never left this process (refused
    before the SDK was called): the broker did not count it against the order budget. The default is
    the safe side: a call the server answered with an error may have been counted."""

    def __init__(self, message: str = "", *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class BrokerRateLimited(BrokerError):
    """The broker's own order budget is spent: it suspends order calls for a while (Shioaji: 60 s)."""


class BrokerSessionDown(BrokerError):
    """No session with the broker: logged out, token expired or connection lost."""


class BrokerOutcomeUnknown(BrokerError):
    """The call may or may not have reached the broker (Shioaji's OrderOutcomeUnknownError)."""


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    """One answer from the broker.

    FILL: price_e4/qty are the deal's, exec_id identifies the deal (duplicates share it).
    AMENDED: price_e4 and qty are the order's price and total quantity after the amend.
    CANCELLED/EXPIRED: qty is the quantity taken off the book.
    AMENDED/AMEND_REJECT: op is the call answered, update_price or update_qty, as the broker names it
    (Shioaji's op_type); empty when it does not say.
    """

    kind: ExecType
    client_order_id: str
    broker_order_id: str = ""
    price_e4: int = 0
    qty: int = 0
    detail: str = ""
    exec_id: str = ""
    op: BrokerAction | Literal[""] = ""


@dataclass(frozen=True, slots=True)
class BrokerOrderState:
    """What the broker says about one order, from a status query or the open-order list.

    `status` is None when the broker has no order with this client_order_id.
    """

    client_order_id: str
    status: OrderStatus | None
    broker_order_id: str = ""
    symbol: str = ""
    side: Side = Side.BUY
    price_e4: int = 0
    qty: int = 0
    cum_qty: int = 0


BrokerEventCallback = Callable[[BrokerEvent], None]
BrokerStatusCallback = Callable[[BrokerOrderState], None]


class Broker(Protocol):
    def set_event_callback(self, callback: BrokerEventCallback) -> None: ...

    def set_status_callback(self, callback: BrokerStatusCallback) -> None: ...

    def place(self, command: OrderCommand) -> None: ...

    def amend_price(self, client_order_id: str, price_e4: int) -> None: ...

    def reduce_qty(self, client_order_id: str, reduce_by: int) -> None:
        """Shioaji can only lower an order's quantity; `reduce_by` lots come off what is left."""

    def cancel(self, client_order_id: str) -> None: ...

    def query(self, client_order_id: str) -> None:
        """Ask for one order's state (Shioaji's update_status): spends the order budget; the answer
        arrives through the status callback."""

    @property
    def open_orders_calls(self) -> int:
        """How many calls that spend the order budget one `open_orders()` makes (Shioaji: an
        update_status per account)."""

    def open_orders(self) -> list[BrokerOrderState]:
        """Every order the broker holds for this account today that is still working (start-up
        reconciliation: Shioaji's update_status then list_trades)."""
