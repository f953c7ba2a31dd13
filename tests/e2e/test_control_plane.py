"""The control plane against real processes: every operator verb through `orderpath ctl`, its effect in the
services and its audit record; a late joiner and a restarted control keep the operator's state.

Every wait is on a log line or an answer, with a deadline; nothing is timed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
import zmq

from contracts.enums import ServiceName
from contracts.messages import Alert, StormGuardState
from services.control.audit import read_audit
from services.launcher import LocalStack
from tests.e2e.control_helpers import ctl, ctl_json, log_lines, wait_logged, wait_until
from tests.e2e.harness import Listener
from tests.e2e.stack_config import QUOTER, never_drawn_down, write_stack_config

pytestmark = pytest.mark.e2e


PAGER = ("import os, sys; open(sys.argv[1], 'a').write(os.environ['ORDERPATH_ALERT_RULE'] + ' ' "
         "+ os.environ['ORDERPATH_ALERT_SUBJECT'] + '\\n')")


def configure(stack_file: Path, paged: Path, *, slow_broadcast: bool) -> None:
    """Control pages by running a command that appends the alert's rule and subject to `paged`; with
    `slow_broadcast` it re-broadcasts its state only every ten minutes (what a late joiner has then came
    from its snapshot)."""
    stack = yaml.safe_load(stack_file.read_text())
    if slow_broadcast:
        stack["state_broadcast_interval_ms"] = 600_000
    stack["control"] = {"alerts": {"command": [sys.executable, "-c", PAGER, str(paged)]}}
    stack_file.write_text(yaml.safe_dump(stack))


def started(tmp_path: Path, *, slow_broadcast: bool) -> Iterator[LocalStack]:
    config = write_stack_config(tmp_path, strategies=[never_drawn_down(QUOTER)])  # levels here are the operator's
    configure(config, tmp_path / "paged.txt", slow_broadcast=slow_broadcast)
    local = LocalStack(config)
    local.start(with_feed=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    yield from started(tmp_path, slow_broadcast=True)


@pytest.fixture
def chatty_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """Control re-broadcasts every heartbeat interval (100 ms): a subscriber knows soon that it has joined."""
    yield from started(tmp_path, slow_broadcast=False)


def log_of(stack: LocalStack, name: ServiceName) -> Path:
    return stack.log_dir / f"{name}.log"


def status(stack: LocalStack) -> dict:
    return ctl_json(stack.stack_file, "status")


def test_every_operator_verb_reaches_the_services_and_is_audited(stack: LocalStack) -> None:
    config, adapter_log = stack.stack_file, log_of(stack, ServiceName.ADAPTER)

    held = ctl(config, "hold")
    assert held.exit_code == 0 and "holding fire" in held.stdout
    wait_logged(adapter_log, "gate_closed", reason="hold_fire")
    assert status(stack)["stormguard"]["hold_fire"] is True
    assert "hold fire ON" in ctl(config, "status").stdout
    resumed = ctl(config, "resume")
    assert resumed.exit_code == 0 and "ended hold fire" in resumed.stdout
    wait_logged(adapter_log, "gate_opened", reason="hold_fire")

    unconfirmed = ctl(config, "cancel-all")
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.stderr
    assert status(stack)["stormguard"]["cancel_all"] is False
    assert ctl(config, "cancel-all", "--yes").exit_code == 0
    wait_logged(adapter_log, "operator_kill_switch", verb="cancel_all")
    wait_logged(adapter_log, "gate_closed", reason="operator")
    assert ctl(config, "resume").exit_code == 0
    wait_logged(adapter_log, "operator_kill_switch", verb="resume")

    assert ctl(config, "stormguard", "force", "HALT", "--scope", "mm1").exit_code == 1, "HALT asks first"
    forced = ctl(config, "stormguard", "force", "HALT", "--scope", "mm1", "--yes")
    assert forced.exit_code == 0 and "mm1 forced HALT: now HALT" in forced.stdout
    assert status(stack)["stormguard"]["levels"]["mm1"] == "HALT"
    wait_logged(log_of(stack, ServiceName.RISK), "control_state_applied", source="broadcast")
    warm = ctl_json(config, "stormguard", "force", "warm")
    assert (warm["scope"], warm["level"]) == ("global", "WARM")
    released = ctl(config, "stormguard", "release", "--scope", "mm1")
    assert released.exit_code == 0 and "it was HALT, now NORMAL" in released.stdout
    assert status(stack)["stormguard"]["levels"] == {"global": "WARM", "mm1": "NORMAL"}
    assert ctl(config, "stormguard", "force", "WARM", "--scope", "ghost").exit_code == 1

    assert ctl(config, "strategy", "disable", "mm1").exit_code == 0
    wait_logged(log_of(stack, ServiceName.STRATEGY), "strategy_toggled", strategy_id="mm1", verb="disable_strategy")
    assert ctl(config, "strategy", "enable", "mm1").exit_code == 0
    wait_logged(log_of(stack, ServiceName.RISK), "strategy_toggled", strategy_id="mm1", verb="enable_strategy")
    assert ctl(config, "ping", "risk").exit_code == 0

    records = read_audit(stack.config.var_dir / "control-audit.jsonl")
    verbs = [(r["verb"], r["ok"]) for r in records if r["verb"] != "status"]
    assert verbs == [
        ("hold", True), ("resume", True), ("cancel_all", True), ("resume", True),
        ("stormguard_force", True), ("stormguard_force", True), ("stormguard_release", True),
        ("stormguard_force", False), ("disable_strategy", True), ("enable_strategy", True),
    ], "one record per command control received; the unconfirmed ones never left the CLI"
    operator_records = [r for r in records if r["verb"] != "status"]
    assert all(r["key"] == "operator" and "@" in r["who"] for r in operator_records), \
        "as shipped, every command is authenticated: the operator's key, and who the client says"


def test_a_halt_pages_through_every_sink_and_shows_in_ctl_alerts(chatty_stack: LocalStack, tmp_path: Path) -> None:
    stack, config = chatty_stack, chatty_stack.stack_file
    bus = Listener(zmq.Context.instance(), stack.config.endpoints.control, Alert, StormGuardState)
    try:
        bus.wait_for(StormGuardState, 1)  # a re-broadcast came: the subscription is in place
        assert ctl(config, "stormguard", "force", "HALT", "--scope", "mm1", "--yes").exit_code == 0
        published = bus.wait_for(Alert, 1)[0]
    finally:
        bus.socket.close()
    assert (published.rule, published.severity, published.subject) == ("stormguard_halt", "page", "mm1")
    wait_until("the pager command ran", lambda: (tmp_path / "paged.txt").exists()
               and (tmp_path / "paged.txt").read_text() == "stormguard_halt mm1\n")
    wait_logged(log_of(stack, ServiceName.CONTROL), "alert", rule="stormguard_halt", severity="page")
    shown = ctl(config, "alerts")
    assert shown.exit_code == 0 and "PAGE" in shown.stdout and "stormguard_halt" in shown.stdout
    assert "still holding: stormguard_halt:mm1" in shown.stdout
    body = ctl_json(config, "alerts")
    assert body["totals"] == {"stormguard_halt": 1} and body["sinks"] == ["log", "bus", "command"]


def test_a_late_joiner_gets_the_operators_state_from_its_snapshot(stack: LocalStack) -> None:
    config = stack.stack_file
    assert ctl(config, "hold").exit_code == 0
    assert ctl(config, "strategy", "disable", "mm1").exit_code == 0
    seq = status(stack)["control"]["stormguard_seq"]

    for name in (ServiceName.RISK, ServiceName.STRATEGY, ServiceName.ADAPTER):
        stack.restart_service(name)
        applied = wait_logged(log_of(stack, name), "control_state_applied", since_start=2)
        assert (applied["source"], applied["seq"], applied["hold_fire"]) == ("snapshot", seq, True), \
            f"{name}: control re-broadcasts every ten minutes here, so only the snapshot could have said it"
    wait_logged(log_of(stack, ServiceName.RISK), "strategy_toggled", since_start=2, strategy_id="mm1",
                source="snapshot")
    wait_logged(log_of(stack, ServiceName.STRATEGY), "strategy_toggled", since_start=2, strategy_id="mm1",
                source="snapshot")
    wait_logged(log_of(stack, ServiceName.ADAPTER), "gate_closed", since_start=2, reason="hold_fire")


def test_a_restarted_control_keeps_the_operators_state(stack: LocalStack) -> None:
    config = stack.stack_file
    assert ctl(config, "hold").exit_code == 0
    assert ctl(config, "stormguard", "force", "HALT", "--scope", "mm1", "--yes").exit_code == 0
    before = status(stack)
    stack.restart_service(ServiceName.CONTROL)
    after = status(stack)  # restart_service waited for the new control's own heartbeat
    assert after["stormguard"]["hold_fire"] is True and after["stormguard"]["forced"] == {"mm1": "HALT"}
    assert after["control"]["epoch"] == before["control"]["epoch"]
    assert after["control"]["stormguard_seq"] > before["control"]["stormguard_seq"]
    restored = log_lines(log_of(stack, ServiceName.CONTROL), "control_state_restored")
    assert len(restored) == 1 and restored[0]["hold_fire"] is True, "logged by the second run (before it started)"
    assert not log_lines(log_of(stack, ServiceName.ADAPTER), "gate_opened"), "the adapter never let go of the hold"
