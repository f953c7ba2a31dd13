"""Operator commands through control: disabling a strategy reaches the runner and risk."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.launcher import LocalStack
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 15.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER]))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def ctl(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "ctl", *args, "--config", str(stack.stack_file)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def logged(stack: LocalStack, service: str, event: str) -> dict:
    """The first log line of `event` in a service's log, waited for with a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for line in (stack.log_dir / f"{service}.log").read_text().splitlines():
            if f'"{event}"' in line:
                return json.loads(line)
        time.sleep(0.05)
    raise AssertionError(f"{service} never logged {event} within {DEADLINE_S}s")


def test_disabling_a_strategy_reaches_the_runner_and_risk(stack: LocalStack) -> None:
    done = ctl(stack, "strategy", "disable", "mm1")
    assert done.returncode == 0, done.stderr
    assert "disabled: mm1" in done.stdout
    for service in ("strategy", "risk"):
        toggled = logged(stack, service, "strategy_toggled")
        assert (toggled["strategy_id"], toggled["verb"]) == ("mm1", "disable_strategy")


def test_an_unknown_strategy_is_refused_with_the_known_ones(stack: LocalStack) -> None:
    done = ctl(stack, "strategy", "disable", "ghost")
    assert done.returncode == 1
    assert "unknown strategy 'ghost'" in done.stderr and "mm1" in done.stderr
