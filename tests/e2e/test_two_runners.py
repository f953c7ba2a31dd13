"""Several strategy runners, each hosting its own strategies, PUSH into one risk (fan-in): both are
approved and traded, and neither runner trades the other's strategy. Each heartbeats under its own
instance name, so control's status lists both and `ctl ping` tells them apart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.enums import ServiceName
from services.launcher import LocalStack
from services.runtime.instance import INSTANCE_ENV
from tests.e2e.control_helpers import ctl, wait_until
from tests.e2e.stack_config import QUOTER, REPO, RESTER, write_stack_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 30.0


def approved_by_strategy(stack: LocalStack) -> dict[str, float]:
    risk = stack.status()["services"].get(str(ServiceName.RISK))
    if risk is None:
        return {}
    return {labels["strategy"]: value for name, labels, value in risk["metrics"] if name == "risk_approved_total"}


def loaded_strategies(log_path: Path) -> list[list[str]]:
    """What each `strategies_loaded` line of a runner's JSON log says it hosts."""
    lines = (json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{"))
    return [line["strategies"] for line in lines if line.get("event") == "strategies_loaded"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER, RESTER]),
                       env={"PYTHONPATH": str(REPO), "ORDERPATH_STRATEGY_IDS": "mm1"})
    try:
        yield local
    finally:
        local.stop()


def test_two_runners_feed_one_risk(stack: LocalStack, tmp_path: Path) -> None:
    stack.start(with_feed=False)
    second_log = (tmp_path / "strategy-2.log").open("w", encoding="utf-8")
    second = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "strategy"],
                              env={**stack.env, "ORDERPATH_STRATEGY_IDS": "rest1", INSTANCE_ENV: "strategy-2"},
                              stdout=second_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        stack.start_feed()
        deadline = time.monotonic() + DEADLINE_S
        while not {"mm1", "rest1"} <= {sid for sid, n in approved_by_strategy(stack).items() if n > 0}:
            stack.check_alive()
            assert second.poll() is None, f"the second runner exited; see {second_log.name}"
            assert time.monotonic() < deadline, f"both runners' intents approved: {approved_by_strategy(stack)}"
            time.sleep(0.05)
        services = stack.status()["services"]
        runners = {name: (entry["service"], entry["state"], entry["pid"]) for name, entry in services.items()
                   if entry["service"] == ServiceName.STRATEGY}
        assert runners == {"strategy": ("strategy", "alive", stack.processes[ServiceName.STRATEGY].popen.pid),
                           "strategy-2": ("strategy", "alive", second.pid)}
        pinged = ctl(stack.stack_file, "ping", "strategy-2")
        assert pinged.exit_code == 0 and f"pid {second.pid}" in pinged.stdout, pinged.output
    finally:
        second.terminate()
        assert second.wait(10) == 0
        second_log.close()
    wait_until("the second runner's final heartbeat",
               lambda: stack.status()["services"]["strategy-2"]["state"] == "stopped")
    assert ctl(stack.stack_file, "ping", "strategy-2").exit_code == 1
    assert ctl(stack.stack_file, "ping", "strategy").exit_code == 0, "the first runner is told apart, still alive"
    assert loaded_strategies(stack.processes[ServiceName.STRATEGY].log_path) == [["mm1"]]
    assert loaded_strategies(Path(second_log.name)) == [["rest1"]]
