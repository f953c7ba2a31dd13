"""The adapter's side of control: control's state into the order manager.

Control's state reaches the adapter by the clone pattern (services/runtime/control_link.py): a
snapshot at start, every change, a re-broadcast every second. A global HALT and hold fire are in the
state and the manager reads them from it; the operator's kill switch is in the state too (so a
restarted adapter learns it from the snapshot), and its changes become the manager's `cancel_all`
and `resume` commands. A dump request is answered with the live order map (services/adapter/dump.py);
other commands go to the manager unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.messages import ControlCommand, StormGuardState
from services.adapter.dump import orders_dump
from services.adapter.order_manager import OrderManager
from services.runtime.control_link import follow_control
from services.runtime.hot_config import INSTRUMENTS, ORDER_ADAPTER
from services.runtime.service import ServiceRuntime


class KillSwitchFollower:
    """Turns the state's `cancel_all` into the manager's commands, once per change."""

    def __init__(self, manager: OrderManager, log_warning: Callable[..., None]) -> None:
        self.manager = manager
        self._log_warning = log_warning
        self.cancelling = False

    def on_state(self, state: StormGuardState, source: str) -> None:
        self.manager.on_control(state)
        if state.cancel_all is self.cancelling:
            return
        self.cancelling = state.cancel_all
        verb = "cancel_all" if self.cancelling else "resume"
        self._log_warning("operator_kill_switch", verb=verb, source=source, seq=state.seq)
        self.manager.on_control(ControlCommand(seq=state.seq, verb=verb, ts_ns=state.ts_ns))


def follow_control_state(rt: ServiceRuntime, manager: OrderManager) -> KillSwitchFollower:
    """Control's state into the manager, dump requests answered; the versions of the config files the
    adapter read at start are reported (the order manager takes its config once: a new order_adapter.yaml
    applies at restart)."""
    follower = KillSwitchFollower(manager, rt.log.warning)

    def on_command(command: ControlCommand) -> None:
        if command.verb == "dump_orders" and command.request_id:
            control.link.send(orders_dump(manager, command.request_id, rt.clock))
        else:
            manager.on_control(command)

    control = follow_control(rt, follower.on_state, on_command)
    hot = control.hot
    hot.report(ORDER_ADAPTER, rt.stack.order_adapter_file)
    hot.report(INSTRUMENTS, rt.stack.instruments_file)
    return follower
