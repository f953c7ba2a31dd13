"""The adapter's fail-safe: silent control → hold fire (levels kept), control heard again → control's own state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from contracts.enums import StormGuardLevel
from contracts.messages import ControlCommand, StormGuardState
from services.adapter.control_watch import ControlFollower, ControlWatch
from services.runtime.clock import FakeClock

SILENT_NS = 5_000_000_000


class FakeManager:
    """Records what the adapter's order manager is told, and keeps its gate the way on_control does."""

    def __init__(self) -> None:
        self.told: list[StormGuardState | ControlCommand] = []
        self.gate: set[str] = set()

    def on_control(self, message: StormGuardState | ControlCommand) -> None:
        self.told.append(message)
        if isinstance(message, StormGuardState):
            for reason, closed in (("halt", message.global_level is StormGuardLevel.HALT),
                                   ("hold_fire", message.hold_fire)):
                (self.gate.add if closed else self.gate.discard)(reason)
        elif message.verb == "cancel_all":
            self.gate.add("operator")
        elif message.verb == "resume":
            self.gate.discard("operator")


class Harness:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.manager = FakeManager()
        self.logged: list[tuple[str, dict]] = []
        self.registry = CollectorRegistry()
        self.follower = ControlFollower(self.manager, self.clock,  # type: ignore[arg-type]
                                        lambda event, **fields: self.logged.append((event, fields)), self.registry)
        self.watch = ControlWatch(self.clock, SILENT_NS, self.follower.hold_for_silence)

    def state(self, seq: int, **fields: object) -> None:
        self.watch.heard()
        fields.setdefault("global_level", StormGuardLevel.NORMAL)
        self.follower.on_state(StormGuardState(seq=seq, ts_ns=0, **fields), "broadcast")  # type: ignore[arg-type]

    def events(self) -> list[str]:
        return [event for event, _ in self.logged]


def test_silence_holds_fire_and_control_heard_again_lifts_it() -> None:
    h = Harness()
    h.state(3)
    h.clock.advance(SILENT_NS - 1)
    h.watch.check()
    assert h.manager.gate == set(), "not silent long enough"
    h.clock.advance(1)
    h.watch.check()
    assert h.manager.gate == {"hold_fire"} and h.watch.holding
    assert h.registry.get_sample_value("control_silent") == 1
    assert h.logged[-1] == ("control_silent", {"silent_ms": 5000, "reason": "hold_fire", "seq": 3})
    h.clock.advance(SILENT_NS)
    h.watch.check()
    assert h.registry.get_sample_value("control_silent_holds_total") == 1, "one hold per silence"
    h.watch.heard()  # a re-broadcast of seq 3: nothing new, but control is back
    assert h.manager.gate == set() and not h.watch.holding
    assert h.manager.told[-1].seq == 3 and not h.manager.told[-1].hold_fire, "control's own state again"
    assert h.events()[-1] == "control_back"


def test_a_halt_stays_a_halt_while_holding_and_an_operators_hold_stays_after() -> None:
    h = Harness()
    h.state(7, global_level=StormGuardLevel.HALT, hold_fire=True)
    h.clock.advance(SILENT_NS)
    h.watch.check()
    assert h.manager.gate == {"halt", "hold_fire"}
    h.watch.heard()
    assert h.manager.gate == {"halt", "hold_fire"}, "control itself says HALT and hold"


def test_a_control_never_heard_is_held_against_and_its_first_state_decides() -> None:
    h = Harness()
    h.clock.advance(SILENT_NS)
    h.watch.check()
    assert h.manager.gate == {"hold_fire"}
    h.state(1, cancel_all=True)
    assert h.manager.gate == {"operator"}, "the kill switch from the state, the silence hold lifted"
    assert [event for event in h.events() if event != "control_silent"] == ["control_back", "operator_kill_switch"]
