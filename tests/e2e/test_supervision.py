"""`orderpath up` supervises its processes: a service killed with SIGKILL is started again, counted in
`ctl status`, alerted on, and orders flow again; a service that crashes in a loop stops the stack with a
message naming it and its log.

The stack runs as `orderpath up` itself (a real process starting real processes); the test reads control's
status over the ops socket, as `orderpath ctl status` does. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from contracts.enums import ServiceName
from services.control.client import ControlUnreachable, OpsClient
from services.runtime.config.stack import load_stack
from tests.e2e.crashing_strategy import EXIT_CODE
from tests.e2e.stack_config import QUOTER, REPO, never_drawn_down, write_stack_config
from tests.e2e.waiting import wait_until

pytestmark = pytest.mark.e2e

UP_DEADLINE_S = 60.0
CRASHER = {"id": "boom", "class": "tests.e2e.crashing_strategy:Crasher", "symbols": ["2330"]}


class Up:
    """`orderpath up` in the background, its stderr read up to the line saying the stack is up."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--config", str(config), "--json"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.log_dir = config.parent / "var" / "log"

    @cached_property
    def ops(self) -> OpsClient:
        """The operator's client, once up has made the operator plane's keys (on its first start)."""
        return OpsClient.for_stack(load_stack(self.config), timeout_ms=1000)

    def wait_until_up(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("all services up"):
                return
        raise AssertionError(f"up ended before the stack was up: {self.process.wait()}")

    def services(self) -> dict[str, Any]:
        try:
            reply = self.ops.request("status")
        except ControlUnreachable:
            return {}
        return reply.body["services"] if reply.ok else {}

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"orderpath up exited with {self.process.returncode}: {self.process.stderr.read()}")

    def stop(self) -> tuple[dict[str, Any], str]:
        """SIGINT, as Ctrl-C; the JSON summary and the rest of stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        stdout, stderr = self.process.communicate(timeout=UP_DEADLINE_S)
        return json.loads(stdout.strip().splitlines()[-1]), stderr

    def launcher_events(self) -> list[dict[str, Any]]:
        path = self.log_dir / "launcher.log"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(write_stack_config(tmp_path, strategies=[never_drawn_down(QUOTER)], heartbeat_interval_ms=200))
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def places_by(services: dict[str, Any], name: str, pid: int) -> float:
    """Orders the process `pid` of `name` has placed, from its heartbeat's counters."""
    entry = services.get(name)
    if entry is None or entry["pid"] != pid or entry["state"] != "alive":
        return 0
    return sum(value for metric, labels, value in entry["metrics"]
               if metric == "order_actions_count_total" and labels.get("action") == "place")


def kill_and_wait_for_restart(up: Up, name: ServiceName) -> dict[str, Any]:
    """SIGKILL the service's process; return control's entry for the process that replaced it."""
    before = wait_until(f"control hears {name}", lambda: up.services().get(name), check=up.check_running)
    killed_at = time.monotonic()
    os.kill(before["pid"], signal.SIGKILL)

    def replaced() -> dict[str, Any] | None:
        entry = up.services().get(name)
        return entry if entry is not None and entry["pid"] != before["pid"] and entry["state"] == "alive" else None

    after = wait_until(f"{name} back under a new pid", replaced, check=up.check_running)
    print(f"\n{name}: killed, heard alive again under a new pid {time.monotonic() - killed_at:.1f}s later")
    assert after["restarts"] == 1
    assert after["last_restart"]["old_pid"] == before["pid"]
    assert after["last_restart"]["said_goodbye"] is False, "a kill -9 leaves no final heartbeat"
    return after


def test_a_killed_adapter_and_risk_are_restarted_counted_alerted_and_orders_flow_again(up: Up) -> None:
    up.wait_until_up()
    killed_at = time.monotonic()
    adapter = kill_and_wait_for_restart(up, ServiceName.ADAPTER)
    wait_until("the restarted adapter places orders", lambda: places_by(up.services(), "adapter", adapter["pid"]) > 0,
               check=up.check_running)
    print(f"adapter: orders placed again {time.monotonic() - killed_at:.1f}s after the kill")

    kill_and_wait_for_restart(up, ServiceName.RISK)
    placed = places_by(up.services(), "adapter", adapter["pid"])
    wait_until("orders flow through the restarted risk",
               lambda: places_by(up.services(), "adapter", adapter["pid"]) > placed, check=up.check_running)

    alerts = up.ops.request("alerts").body
    restarted = [alert["subject"] for alert in alerts["alerts"] if alert["rule"] == "service_restarted"]
    assert sorted(restarted) == ["adapter", "risk"]
    assert alerts["totals"]["service_restarted"] == 2

    summary, stderr = up.stop()
    assert summary["ok"] is True, f"{summary.get('error')}\n{stderr}"
    assert summary["restarts"] == {"adapter": 1, "risk": 1}
    assert summary["services"]["adapter"] == summary["services"]["risk"] == "stopped"
    events = [(e["event"], e.get("exited") or e.get("restarted")) for e in up.launcher_events()]
    assert events == [("service_exited", "adapter"), ("service_restarted", "adapter"),
                      ("service_exited", "risk"), ("service_restarted", "risk")]
    exited = up.launcher_events()[0]
    assert exited["exit_code"] == -signal.SIGKILL and exited["log"].endswith("adapter.log")


def test_a_service_crashing_in_a_loop_stops_the_stack_naming_it_and_its_log(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[CRASHER], heartbeat_interval_ms=200,
                                supervision={"backoff_initial_ms": 100, "max_restarts": 2, "window_s": 60})
    up = Up(config)
    try:
        up.wait_until_up()
        up.process.wait(UP_DEADLINE_S)
        summary, stderr = up.stop()
    finally:
        if up.process.poll() is None:
            up.process.kill()
    assert up.process.returncode == 1
    log = up.log_dir / "strategy.log"
    message = f"strategy exited (code {EXIT_CODE}) after 2 restarts within 60s; stopping the stack; see {log}"
    assert summary["ok"] is False and summary["error"] == message
    assert f"orderpath: {message}" in stderr
    assert summary["restarts"] == {"strategy": 2}
    events = [e["event"] for e in up.launcher_events()]
    assert events == ["service_exited", "service_restarted"] * 2 + ["service_restart_limit"]
    delays = [e["restart_in_s"] for e in up.launcher_events() if e["event"] == "service_exited"]
    assert delays == [0.1, 0.2], "the backoff doubles"
    assert [summary["services"][name] for name in ("feed", "risk", "adapter")] == ["stopped"] * 3
