"""`orderpath ctl ping NAME`, the containers' healthcheck: exit 0 only for a service control heard from
lately, non-zero with a reason otherwise, and never a hang when control is not there."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.enums import ServiceName
from services.launcher import LocalStack
from services.runtime.config.stack import load_stack
from services.runtime.curve import ensure_keys
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

DEADLINE_S = 15.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """Every service but the feed, so one service is one control never heard from."""
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER]))
    local.start(with_feed=False)
    try:
        yield local
    finally:
        local.stop()


def ping(config: Path, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "ctl", "ping", name, "--config", str(config),
                           *options], cwd=REPO, capture_output=True, text=True, timeout=60)


def wait_for_state(stack: LocalStack, name: str, state: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        entry = stack.status()["services"].get(name)
        if entry is not None and entry["state"] == state:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"control never saw {name} {state} within {DEADLINE_S}s: {entry}")
        time.sleep(0.05)


def test_ping_tells_live_services_from_stopped_and_absent_ones(stack: LocalStack) -> None:
    for name in (ServiceName.CONTROL, ServiceName.ADAPTER, ServiceName.RISK, ServiceName.STRATEGY):
        done = ping(stack.stack_file, name)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{name} alive: pid ")

    never_started = ping(stack.stack_file, ServiceName.FEED)
    assert never_started.returncode == 1
    assert "feed is not alive: feed: no heartbeat since control started" in never_started.stderr

    stack.stop_service(ServiceName.STRATEGY)
    wait_for_state(stack, ServiceName.STRATEGY, "stopped")
    stopped = ping(stack.stack_file, ServiceName.STRATEGY)
    assert stopped.returncode == 1
    assert "strategy is not alive: strategy stopped" in stopped.stderr and "final" in stopped.stderr

    unknown = ping(stack.stack_file, "ghost")
    assert unknown.returncode == 2
    assert "ghost" in unknown.stderr and "feed" in unknown.stderr, "the refusal names the services there are"


def test_ping_without_control_gives_up_at_its_timeout(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER])
    ensure_keys(load_stack(config).curve)  # the keys of an earlier start: only control is missing
    done = ping(config, ServiceName.CONTROL, "--timeout", "0.5")
    assert done.returncode == 2
    assert "no answer from control" in done.stderr and "within 0.5s" in done.stderr
