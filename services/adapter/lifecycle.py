"""An order's life in the adapter: its states, the moves allowed between them, and nothing else.

Three small machines describe a LiveOrder, each with a table of the moves it allows; any other
move raises IllegalTransition, because it means the adapter lost track of what the order is:
- `status` (contracts' OrderStatus): the order at the broker, as reported to strategy and risk;
- `submission`: its NEW — waiting for the order budget, handed to the broker, or unresolved
  (no answer in time: reported failed, tracked until the broker settles it);
- `cancel`: the pending-cancel stages — wanted, waiting for the order budget, at the broker.
The pending-amend stages belong to the amend coalescer (amends.py). docs/adapter.md has the table.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from contracts.enums import OrderStatus

if TYPE_CHECKING:
    from services.adapter.order_map import LiveOrder


class Submission(StrEnum):
    QUEUED = "queued"  # waiting for the order budget: never sent
    SENT = "sent"  # handed to the broker (its answer, if any, settles it)
    UNRESOLVED = "unresolved"  # no answer in time, or outcome unknown: reported failed, tracked until settled


class CancelStage(StrEnum):
    NONE = "none"
    WANTED = "wanted"  # asked for: sent once the NEW is acked, or again by the sweep after the broker failed it
    WAITING = "waiting"  # queued for the order budget
    PENDING = "pending"  # at the broker, unanswered


class IllegalTransition(RuntimeError):
    """A move its machine's table does not allow: the adapter's idea of an order is wrong."""


_S = OrderStatus
STATUS_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_NEW: frozenset({_S.WORKING, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED}),
    _S.WORKING: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED}),
    _S.PARTIALLY_FILLED: frozenset({_S.FILLED, _S.CANCELLED, _S.REJECTED}),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
}
"""The broker's side of the order: it never goes back to pending, and a finished order stays finished."""

SUBMISSION_MOVES: dict[Submission, frozenset[Submission]] = {
    Submission.QUEUED: frozenset({Submission.SENT}),
    Submission.SENT: frozenset({Submission.UNRESOLVED}),
    Submission.UNRESOLVED: frozenset(),
}

CANCEL_MOVES: dict[CancelStage, frozenset[CancelStage]] = {
    CancelStage.NONE: frozenset({CancelStage.WANTED}),
    CancelStage.WANTED: frozenset({CancelStage.WAITING, CancelStage.PENDING}),
    CancelStage.WAITING: frozenset({CancelStage.WANTED}),
    CancelStage.PENDING: frozenset({CancelStage.WANTED}),
}
"""A cancel is never withdrawn: once wanted, the adapter keeps at it until the order is finished."""

_State = TypeVar("_State", OrderStatus, Submission, CancelStage)


def _checked(table: dict[_State, frozenset[_State]], order: LiveOrder, machine: str, now: _State, to: _State) -> _State:
    if to is not now and to not in table[now]:
        raise IllegalTransition(f"order {order.client_order_id}: {machine} {now} → {to} is not a legal move")
    return to


def move_status(order: LiveOrder, to: OrderStatus) -> None:
    """The broker's side moves (staying put is allowed: two answers may say the same thing)."""
    order.status = _checked(STATUS_MOVES, order, "status", order.status, to)


def move_submission(order: LiveOrder, to: Submission) -> None:
    order.submission = _checked(SUBMISSION_MOVES, order, "submission", order.submission, to)


def move_cancel(order: LiveOrder, to: CancelStage) -> None:
    order.cancel = _checked(CANCEL_MOVES, order, "cancel", order.cancel, to)
