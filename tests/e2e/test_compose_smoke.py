"""deploy/smoke.sh on a real Docker engine: the compose stack built, up and healthy, trading, risk and then
the adapter replaced with the others running, trading on after each, and torn down. Skipped where no
engine answers `docker info` (CI has none): tests/unit/deploy/ checks the files there instead.
The script's own deadlines bound every wait; the timeout here only catches a script that hangs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.e2e.stack_config import REPO

pytestmark = pytest.mark.e2e

SMOKE = REPO / "deploy" / "smoke.sh"
SCRIPT_TIMEOUT_S = 1800  # above the sum of the script's deadlines: build, up, healthy, two replacements, down


def no_engine_reason() -> str | None:
    """Why the smoke check cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI here (CI has no Docker engine): deploy/smoke.sh needs one"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s: no usable Docker engine for deploy/smoke.sh"
    if info.returncode != 0:
        return "`docker info` failed: no Docker engine here (CI has none), so deploy/smoke.sh cannot run"
    has_v2 = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0
    if not has_v2 and shutil.which("docker-compose") is None:
        return "a Docker engine but neither `docker compose` nor docker-compose: deploy/smoke.sh needs one"
    return None


def test_compose_stack_trades_through_replacing_risk_and_the_adapter() -> None:
    reason = no_engine_reason()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(["bash", str(SMOKE)], cwd=REPO, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"deploy/smoke.sh exited {done.returncode}:\n{output[-8000:]}"
    assert "smoke: PASSED" in output
