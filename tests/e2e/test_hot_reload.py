"""Config hot reload against real processes: a valid edit reaches control, risk and the runner, each reporting
the version it runs; an invalid one is refused with the reason and the old version stays everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.enums import ServiceName
from services.launcher import LocalStack
from services.runtime.hot_config import version_of
from tests.e2e.control_helpers import ctl, ctl_json, wait_logged, wait_until
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    config = write_stack_config(tmp_path, strategies=[QUOTER])
    stack = yaml.safe_load(config.read_text())
    stack["control"] = {"config_poll_ms": 100}
    config.write_text(yaml.safe_dump(stack))
    local = LocalStack(config)
    local.start(with_feed=False)
    try:
        yield local
    finally:
        local.stop()


def config_status(stack: LocalStack) -> dict[str, Any]:
    return ctl_json(stack.stack_file, "status")["config"]


def everyone_on(stack: LocalStack, file: str, version: str, services: tuple[str, ...]) -> dict[str, Any] | None:
    entry = config_status(stack)[file]
    on_it = entry["version"] == version and all(entry["services"].get(s) == version for s in services)
    return entry if on_it else None


def test_a_valid_edit_is_followed_and_an_invalid_one_refused(stack: LocalStack, tmp_path: Path) -> None:
    limits_file = tmp_path / "strategy_limits.yaml"
    v0 = version_of(limits_file.read_text())
    followers = ("control", "risk", "strategy")
    wait_until("every service reports the version it started with",
               lambda: everyone_on(stack, "strategy_limits", v0, followers))

    limits = yaml.safe_load(limits_file.read_text())
    limits["strategies"][0]["budget_us"] = 900
    new_text = yaml.safe_dump(limits)
    limits_file.write_text(new_text)
    v1 = version_of(new_text)
    wait_until("control, risk and the runner run the edited file",
               lambda: everyone_on(stack, "strategy_limits", v1, followers))
    for name in (ServiceName.RISK, ServiceName.STRATEGY):
        applied = wait_logged(stack.log_dir / f"{name}.log", "config_applied", file="strategy_limits", version=v1)
        assert applied["previous"] == v0 and applied["not_applied"] == []
    unchanged = ctl(stack.stack_file, "config", "reload")
    assert unchanged.exit_code == 0 and f"strategy_limits: version {v1}, unchanged" in unchanged.stdout

    limits["strategies"][0]["budget_us"] = -1
    limits_file.write_text(yaml.safe_dump(limits))
    refused = ctl(stack.stack_file, "config", "reload")
    assert refused.exit_code == 1
    assert f"REFUSED, version {v1} stays" in refused.stdout
    assert f"strategies[{limits['strategies'][0]['id']}].budget_us" in refused.stderr and "(got -1)" in refused.stderr
    entry = config_status(stack)["strategy_limits"]
    assert entry["version"] == v1 and "budget_us" in entry["error"]
    assert everyone_on(stack, "strategy_limits", v1, followers), "nobody took the refused file"
    assert "REFUSED" in ctl(stack.stack_file, "status").stdout
    logged = wait_logged(stack.log_dir / "control.log", "config_refused", file="strategy_limits")
    assert logged["running"] == v1 and "budget_us" in logged["reason"]
    alerts = ctl_json(stack.stack_file, "alerts")
    assert "config_invalid:strategy_limits" in alerts["active"]


def test_an_adapter_config_change_is_versioned_and_waits_for_a_restart(stack: LocalStack, tmp_path: Path) -> None:
    adapter_file = tmp_path / "order_adapter.yaml"
    adapter = yaml.safe_load(adapter_file.read_text()) or {}
    before = version_of(adapter_file.read_text())
    adapter["soft_cap"] = 240
    new_text = yaml.safe_dump(adapter)
    adapter_file.write_text(new_text)
    entry = wait_until("control validated the new adapter config",
                       lambda: (e := config_status(stack)["order_adapter"])["version"] == version_of(new_text) and e)
    assert entry["services"]["adapter"] == before, "the adapter runs what it started with"
    noted = wait_logged(stack.log_dir / "adapter.log", "config_needs_restart", file="order_adapter")
    assert noted["version"] == version_of(new_text) and noted["running"] == before
