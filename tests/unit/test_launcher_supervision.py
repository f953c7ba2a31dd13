"""LocalStack.supervise on a fake clock, with stand-in processes: what exited on its own is started again once
its backoff has passed, what was stopped on purpose is not, and one exit too many stops the stack naming the
service and its log. (The e2e twin, tests/e2e/test_supervision.py, kills real processes under `orderpath up`.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from contracts.enums import ServiceName
from services.launcher import LocalStack, ServiceProcess, StackError
from services.local_config import write_stack_config
from services.runtime.clock import FakeClock

MS = 1_000_000


class StandIn:
    """The part of a Popen the launcher reads: a pid and, once it has exited, its code."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class Launcher(LocalStack):
    """A LocalStack on a fake clock whose spawns are stand-ins, numbered from pid 100."""

    def __init__(self, stack_file: Path, clock: FakeClock) -> None:
        super().__init__(stack_file, clock=clock)
        self.fake_clock = clock
        self.spawned: list[tuple[ServiceName, str]] = []

    def _spawn(self, name: ServiceName, log_mode: str = "w") -> None:
        popen = StandIn(100 + len(self.spawned))
        self.spawned.append((name, log_mode))
        self.processes[name] = ServiceProcess(name, popen, self.log_dir / f"{name}.log", io.StringIO())  # type: ignore[arg-type]
        self._stopped.discard(name)
        self._restart_due.pop(name, None)


@pytest.fixture
def stack(tmp_path: Path) -> Launcher:
    config = write_stack_config(tmp_path, strategies=[], supervision={"backoff_initial_ms": 500,
                                                                      "max_restarts": 2, "window_s": 60})
    launcher = Launcher(config, FakeClock())
    for name in (ServiceName.CONTROL, ServiceName.ADAPTER):
        launcher._spawn(name)
    return launcher


def crash(stack: Launcher, name: ServiceName, code: int = -9) -> None:
    stack.processes[name].popen.returncode = code


def test_an_exited_service_is_started_again_only_once_its_backoff_has_passed(stack: Launcher) -> None:
    crash(stack, ServiceName.ADAPTER)
    stack.supervise()
    stack.fake_clock.advance(499 * MS)
    stack.supervise()
    assert stack.spawned[2:] == [], "not before the backoff"
    stack.fake_clock.advance(1 * MS)
    stack.supervise()
    assert stack.spawned[2:] == [(ServiceName.ADAPTER, "a")], "started again, its log appended to"
    assert stack.processes[ServiceName.ADAPTER].popen.pid == 102
    events = [json.loads(line) for line in stack.launcher_log.read_text().splitlines()]
    assert [(e["event"], e["exit_code"] if "exit_code" in e else e["pid"]) for e in events] == [
        ("service_exited", -9), ("service_restarted", 102)]


def test_a_service_stopped_on_purpose_is_not_started_again(stack: Launcher) -> None:
    crash(stack, ServiceName.ADAPTER, 0)
    stack.stop_service(ServiceName.ADAPTER)
    stack.fake_clock.advance(60_000 * MS)
    stack.supervise()
    assert stack.spawned[2:] == []


def test_one_exit_past_the_ceiling_stops_the_stack_naming_the_service_and_its_log(stack: Launcher) -> None:
    for _ in range(2):
        crash(stack, ServiceName.ADAPTER, 3)
        stack.supervise()
        stack.fake_clock.advance(5_000 * MS)
        stack.supervise()
    crash(stack, ServiceName.ADAPTER, 3)
    with pytest.raises(StackError) as failure:
        stack.supervise()
    log = stack.log_dir / "adapter.log"
    assert str(failure.value) == f"adapter exited (code 3) after 2 restarts within 60s; stopping the stack; see {log}"
    assert stack.restarts.totals == {ServiceName.ADAPTER: 2}


def test_a_service_that_refuses_to_run_is_not_restarted(stack: Launcher) -> None:
    crash(stack, ServiceName.ADAPTER, 2)
    with pytest.raises(StackError, match=r"adapter exited with code 2: it refuses to run, so it is not restarted"):
        stack.supervise()
    assert stack.spawned[2:] == [] and stack.restarts.totals == {}
