"""services.runtime.loop: draining readers, timers on a FakeClock, stop() — over real inproc sockets.

Nothing here sleeps or measures time: the FakeClock moves only when a callback moves it, so every
run is the same sequence of turns. A watchdog stops a loop that would otherwise hang on a regression.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest
import zmq

import services.runtime.loop as loop_module
from services.runtime.clock import FakeClock
from services.runtime.loop import ServiceLoop

WATCHDOG_S = 10.0
INTERVAL_NS = 5_000_000


class Rig:
    """A loop on a FakeClock and an inproc PUSH -> PULL pair, with everything that happened recorded."""

    def __init__(self, context: zmq.Context, name: str) -> None:
        self.context = context
        self.clock = FakeClock()
        self.loop = ServiceLoop(self.clock)
        self.pull = context.socket(zmq.PULL)
        self.pull.bind(f"inproc://{name}")
        self.push = context.socket(zmq.PUSH)
        self.push.connect(f"inproc://{name}")
        self.events: list[str] = []
        self.watchdog_fired = False

    def send(self, *payloads: bytes) -> None:
        for payload in payloads:
            self.push.send_multipart([b"topic", payload])
        # Wait (event-driven, not a sleep) until they are readable, so the first turn sees them.
        assert self.pull.poll(int(WATCHDOG_S * 1000), zmq.POLLIN)

    def record_frames(self, frames: list[bytes]) -> None:
        assert len(frames) == 2
        self.events.append(frames[1].decode())

    def run(self) -> None:
        def rescue() -> None:
            self.watchdog_fired = True
            self.loop.stop()

        watchdog = threading.Timer(WATCHDOG_S, rescue)
        watchdog.start()
        try:
            self.loop.run()
        finally:
            watchdog.cancel()
        assert not self.watchdog_fired, "the loop did not stop by itself"

    def close(self) -> None:
        self.push.close(linger=0)
        self.pull.close(linger=0)
        self.loop.close()


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    context = zmq.Context()
    rig = Rig(context, request.node.name)
    try:
        yield rig
    finally:
        rig.close()
        context.term()


def test_reader_drains_every_queued_message_in_one_turn(rig: Rig) -> None:
    rig.send(b"m0", b"m1", b"m2", b"m3", b"m4")
    rig.loop.add_reader(rig.pull, rig.record_frames)
    seen_after_first_turn: list[int] = []

    def after_first_turn() -> None:
        seen_after_first_turn.append(len(rig.events))
        rig.loop.stop()

    rig.loop.call_later(0, after_first_turn)
    rig.run()
    assert seen_after_first_turn == [5]
    assert rig.events == ["m0", "m1", "m2", "m3", "m4"]


def test_drain_is_bounded_per_turn(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_module, "MAX_DRAIN_PER_TURN", 2)
    rig.send(b"m0", b"m1", b"m2", b"m3", b"m4")
    rig.loop.add_reader(rig.pull, rig.record_frames)
    counts: list[int] = []

    def end_of_turn() -> None:
        counts.append(len(rig.events))
        rig.loop.stop()

    for _ in range(3):
        rig.loop.call_later(0, end_of_turn)
        rig.run()
    assert counts == [2, 4, 5]
    assert rig.events == ["m0", "m1", "m2", "m3", "m4"]


def test_timer_set_by_a_handler_runs_after_the_whole_drain(rig: Rig) -> None:
    rig.send(b"m0", b"m1", b"m2")

    def handler(frames: list[bytes]) -> None:
        rig.record_frames(frames)
        if rig.events == ["m0"]:
            rig.loop.call_later(0, lambda: (rig.events.append("timer"), rig.loop.stop()))
            rig.events.append("m0-returned")

    rig.loop.add_reader(rig.pull, handler)
    rig.run()
    assert rig.events == ["m0", "m0-returned", "m1", "m2", "timer"]


def test_call_later_zero_from_a_timer_runs_on_the_next_turn(rig: Rig) -> None:
    def second() -> None:
        rig.events.append("second")
        rig.loop.stop()

    def first() -> None:
        rig.events.append("first")
        rig.push.send_multipart([b"topic", b"msg"])  # readable before the next turn's poll
        rig.loop.call_later(0, second)

    rig.loop.add_reader(rig.pull, rig.record_frames)
    rig.loop.call_later(0, first)
    rig.run()
    assert rig.events == ["first", "msg", "second"]


def test_call_later_zero_runs_after_the_caller_returns(rig: Rig) -> None:
    def later() -> None:
        rig.events.append("later")
        rig.loop.stop()

    def first() -> None:
        rig.loop.call_later(0, later)
        rig.events.append("first-returned")

    rig.loop.call_later(0, first)
    rig.run()
    assert rig.events == ["first-returned", "later"]


def test_timers_run_in_due_order_then_insertion_order(rig: Rig) -> None:
    for name, delay in (("c", 2), ("a", 0), ("b", 0), ("d", 2)):
        rig.loop.call_later(delay, lambda name=name: rig.events.append(name))
    rig.loop.call_later(2, rig.loop.stop)
    rig.loop.call_later(0, lambda: rig.clock.advance(2))
    rig.run()
    assert rig.events == ["a", "b", "c", "d"]


def test_timer_does_not_run_before_it_is_due(rig: Rig) -> None:
    fired: list[int] = []
    rig.loop.call_later(INTERVAL_NS, lambda: fired.append(rig.clock.mono_ns()))
    start = rig.clock.mono_ns()

    def step() -> None:
        # Move the clock in half-intervals, one per turn, until the timer has fired.
        if fired:
            rig.loop.stop()
            return
        rig.events.append(f"at+{rig.clock.mono_ns() - start}")
        rig.clock.advance(INTERVAL_NS // 2)
        rig.loop.call_later(0, step)

    rig.loop.call_later(0, step)
    rig.run()
    assert fired == [start + INTERVAL_NS]
    assert rig.events == ["at+0", f"at+{INTERVAL_NS // 2}"]


def test_every_repeats_each_interval_first_after_one_interval(rig: Rig) -> None:
    start = rig.clock.mono_ns()
    fired_at: list[int] = []

    def on_interval() -> None:
        fired_at.append(rig.clock.mono_ns() - start)
        if len(fired_at) == 3:
            rig.loop.stop()

    def advance_one_interval_per_turn() -> None:
        rig.clock.advance(INTERVAL_NS)
        rig.loop.call_later(0, advance_one_interval_per_turn)

    rig.loop.every(INTERVAL_NS, on_interval)
    rig.loop.call_later(0, advance_one_interval_per_turn)
    rig.run()
    assert fired_at == [INTERVAL_NS, 2 * INTERVAL_NS, 3 * INTERVAL_NS]


def test_stop_from_a_timer_ends_run_and_skips_later_timers(rig: Rig) -> None:
    rig.loop.call_later(0, lambda: rig.events.append("a"))
    rig.loop.call_later(0, rig.loop.stop)
    rig.loop.call_later(0, lambda: rig.events.append("after-stop"))
    rig.run()
    assert rig.events == ["a"]


def test_stop_from_a_reader_ends_run(rig: Rig) -> None:
    rig.send(b"m0", b"stop", b"m2")
    pending: list[str] = []

    def handler(frames: list[bytes]) -> None:
        rig.record_frames(frames)
        if frames[1] == b"stop":
            rig.loop.stop()

    rig.loop.add_reader(rig.pull, handler)
    rig.loop.call_later(0, lambda: pending.append("timer"))
    rig.run()
    assert rig.events[:2] == ["m0", "stop"]
    assert pending == [], "no timer runs once the loop was stopped"


def test_loop_runs_again_after_stop(rig: Rig) -> None:
    rig.loop.add_reader(rig.pull, rig.record_frames)
    for payload in (b"first", b"second"):
        rig.send(payload)
        rig.loop.call_later(0, rig.loop.stop)
        rig.run()
    assert rig.events == ["first", "second"]


def test_stop_before_run_ends_that_run_at_once(rig: Rig) -> None:
    """A SIGTERM that lands after the handlers are installed but before run() (start-up's heap
    collection sits between them) must not be forgotten: the service would never stop."""
    rig.loop.stop()
    rig.run()
    rig.loop.call_later(0, rig.loop.stop)
    rig.run()


def test_two_readers_are_both_served(rig: Rig, request: pytest.FixtureRequest) -> None:
    other_pull = rig.context.socket(zmq.PULL)
    other_push = rig.context.socket(zmq.PUSH)
    try:
        other_pull.bind(f"inproc://{request.node.name}-other")
        other_push.connect(f"inproc://{request.node.name}-other")
        other_push.send_multipart([b"topic", b"x0"])
        assert other_pull.poll(int(WATCHDOG_S * 1000), zmq.POLLIN)
        rig.send(b"m0", b"m1")
        rig.loop.add_reader(rig.pull, rig.record_frames)
        rig.loop.add_reader(other_pull, rig.record_frames)
        rig.loop.call_later(0, rig.loop.stop)
        rig.run()
        assert sorted(rig.events) == ["m0", "m1", "x0"]
    finally:
        other_push.close(linger=0)
        other_pull.close(linger=0)



def test_a_reader_removed_by_a_timer_is_no_longer_read(rig: Rig) -> None:
    """What StreamGuard does before it closes a dead SUB and reads a new one in its place."""
    rig.send(b"m0")
    rig.loop.add_reader(rig.pull, rig.record_frames)
    rig.loop.call_later(0, rig.loop.stop)
    rig.run()
    assert rig.events == ["m0"]

    rig.loop.remove_reader(rig.pull)
    rig.send(b"m1")  # readable, but nobody reads it now
    rig.loop.call_later(0, rig.loop.stop)
    rig.run()
    assert rig.events == ["m0"]
    rig.loop.add_reader(rig.pull, rig.record_frames)
    rig.loop.call_later(0, rig.loop.stop)
    rig.run()
    assert rig.events == ["m0", "m1"]


def test_close_gives_the_signals_their_previous_handlers_back() -> None:
    """After the loop, a second Ctrl-C must reach whatever comes next (a logout that hangs), not a stopped loop."""

    def before(*_: object) -> None:
        pass

    previous = signal.signal(signal.SIGHUP, before)
    loop = ServiceLoop(FakeClock())
    try:
        loop.install_signal_handlers((signal.SIGHUP,))
        assert signal.getsignal(signal.SIGHUP) is not before
    finally:
        loop.close()
    try:
        assert signal.getsignal(signal.SIGHUP) is before
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_idle_work_waits_until_no_message_is_ready(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_module, "MAX_DRAIN_PER_TURN", 1)  # one message a turn: three turns find one ready
    rig.send(b"m0", b"m1", b"m2")
    rig.loop.add_reader(rig.pull, rig.record_frames)
    rig.loop.when_idle(lambda: (rig.events.append("idle"), rig.loop.stop()))
    rig.run()
    assert rig.events == ["m0", "m1", "m2", "idle"]


def test_idle_work_runs_once(rig: Rig) -> None:
    rig.loop.when_idle(lambda: rig.events.append("idle"))
    rig.loop.call_later(0, lambda: rig.loop.call_later(0, rig.loop.stop))
    rig.run()
    assert rig.events == ["idle"]


def test_the_after_turn_hook_runs_after_every_turn(rig: Rig) -> None:
    turns: list[int] = []
    rig.loop.after_each_turn(lambda: turns.append(len(rig.events)))
    rig.send(b"m0")
    rig.loop.add_reader(rig.pull, rig.record_frames)
    rig.loop.call_later(0, lambda: rig.loop.call_later(0, rig.loop.stop))
    rig.run()
    assert turns[:2] == [1, 1] and len(turns) >= 2
