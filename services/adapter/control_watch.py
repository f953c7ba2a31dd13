"""The adapter's side of control: control's state into the order manager, and the fail-safe when control is silent.

Control's state reaches the adapter by the clone pattern (services/runtime/control_link.py): a
snapshot at start, every change, a re-broadcast every state_broadcast_interval_ms. A global HALT and
hold fire are in the state and the manager reads them from it; the operator's kill switch is in the
state too (so a restarted adapter learns it from the snapshot), and its changes become the manager's
`cancel_all` and `resume` commands. A dump request is answered with the live order map
(services/adapter/dump.py); other commands go to the manager unchanged.

Fail-safe: the adapter is the last gate before the broker, and control is where a HALT, a hold or a
kill switch comes from. If nothing at all comes from control (not even the re-broadcast) for
control.adapter_hold_after_silence_ms, the adapter holds fire: no new order goes to the broker, cancels
still do. It ends as soon as control is heard again, with control's own state re-applied. Until the
order manager has a gate of its own for this, the hold is the manager's hold_fire gate, closed by
handing it control's last state with hold_fire set (levels unchanged, so a HALT stays a HALT).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.enums import CommandVerb, GateReason, StormGuardLevel
from contracts.messages import ControlCommand, StormGuardState
from services.adapter.dump import orders_dump
from services.adapter.order_manager import OrderManager
from services.runtime.clock import Clock
from services.runtime.control_link import follow_control
from services.runtime.hot_config import INSTRUMENTS, ORDER_ADAPTER
from services.runtime.service import ServiceRuntime


class ControlWatch:
    """Silence detector: `heard` on anything from control, `check` on a timer; `hold(True)` when control has
    been silent for `silent_after_ns`, `hold(False)` when it is heard again."""

    def __init__(self, clock: Clock, silent_after_ns: int, hold: Callable[[bool, int], None]) -> None:
        self.clock = clock
        self.silent_after_ns = silent_after_ns
        self._hold = hold
        self.last_heard_ns = clock.mono_ns()
        self.holding = False

    def heard(self) -> None:
        self.last_heard_ns = self.clock.mono_ns()
        if self.holding:
            self.holding = False
            self._hold(False, 0)

    def check(self) -> None:
        silent_ns = self.clock.mono_ns() - self.last_heard_ns
        if not self.holding and silent_ns >= self.silent_after_ns:
            self.holding = True
            self._hold(True, silent_ns)


class ControlFollower:
    """Control's state and commands into the order manager (kill switch, dumps), and the fail-safe hold."""

    def __init__(self, manager: OrderManager, clock: Clock, log_warning: Callable[..., None],
                 registry: CollectorRegistry) -> None:
        self.manager = manager
        self.clock = clock
        self._log_warning = log_warning
        self.cancelling = False
        self.state: StormGuardState | None = None
        self.silent = Gauge("control_silent", "1 while the adapter holds fire because control is silent",
                            registry=registry)
        self.silent_holds = Counter("control_silent_holds", "Times the adapter held fire for control's silence",
                                    registry=registry)

    def on_state(self, state: StormGuardState, source: str) -> None:
        self.state = state
        self.manager.on_control(state)
        if state.cancel_all is self.cancelling:
            return
        self.cancelling = state.cancel_all
        verb = CommandVerb.CANCEL_ALL if self.cancelling else CommandVerb.RESUME
        self._log_warning("operator_kill_switch", verb=verb, source=source, seq=state.seq)
        self.manager.on_control(ControlCommand(seq=state.seq, verb=verb, ts_ns=state.ts_ns))

    def hold_for_silence(self, holding: bool, silent_ns: int) -> None:
        """Close the gate to NEWs while control is silent; on its return, control's own state decides again."""
        held = self.state
        if holding:
            self.silent.set(1)
            self.silent_holds.inc()
            self._log_warning("control_silent", silent_ms=silent_ns // 1_000_000, reason=GateReason.HOLD_FIRE,
                              seq=held.seq if held else None)
            synthetic = StormGuardState(seq=held.seq if held else 0, epoch=held.epoch if held else 0,
                                        global_level=held.global_level if held else StormGuardLevel.NORMAL,
                                        strategy_levels=dict(held.strategy_levels) if held else {},
                                        hold_fire=True, ts_ns=self.clock.wall_ns())
            self.manager.on_control(synthetic)
        else:
            self.silent.set(0)
            self._log_warning("control_back", reason="control heard again", seq=held.seq if held else None)
            self.manager.on_control(held if held is not None else StormGuardState(
                seq=0, global_level=StormGuardLevel.NORMAL, ts_ns=self.clock.wall_ns()))


def follow_control_state(rt: ServiceRuntime, manager: OrderManager) -> ControlFollower:
    """Control's state into the manager, dump requests answered, the fail-safe armed; the versions of the
    config files the adapter read at start are reported (the order manager takes its config once: a new
    order_adapter.yaml applies at restart)."""
    follower = ControlFollower(manager, rt.clock, rt.log.warning, rt.metrics.registry)
    hold_after_ms = rt.stack.control.adapter_hold_after_silence_ms
    watch = ControlWatch(rt.clock, hold_after_ms * 1_000_000, follower.hold_for_silence) if hold_after_ms else None

    def on_command(command: ControlCommand) -> None:
        if command.verb == CommandVerb.DUMP_ORDERS and command.request_id:
            control.link.send(orders_dump(manager, command.request_id, rt.clock))
        else:
            manager.on_control(command)

    control = follow_control(rt, follower.on_state, on_command, heard=watch.heard if watch else lambda: None)
    if watch is not None:
        rt.loop.every(max(watch.silent_after_ns // 5, 10_000_000), watch.check)
        if hold_after_ms <= 2 * rt.stack.state_broadcast_interval_ms:
            rt.log.warning("control_silence_too_short", hold_after_ms=hold_after_ms,
                           state_broadcast_interval_ms=rt.stack.state_broadcast_interval_ms,
                           reason="one late re-broadcast would hold fire")
    control.hot.report(ORDER_ADAPTER, rt.stack.order_adapter_file)
    control.hot.report(INSTRUMENTS, rt.stack.instruments_file)
    return follower
