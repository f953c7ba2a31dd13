"""Fixtures of the deployment tests: the parsed files, and what the code says (tests/unit/deploy/code_facts.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def code_facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per service, the endpoints its main binds and connects and the metric samples it exports."""
    var_dir = tmp_path_factory.mktemp("facts-var")
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.deploy.code_facts", str(var_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ORDERPATH_LOG_LEVEL": "WARNING", "SJ_LOG_PATH": os.devnull},
    )
    assert done.returncode == 0, f"probing the services failed:\n{done.stderr[-4000:]}"
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["services"], "no service was probed"
    return facts


@pytest.fixture(scope="session")
def defined_metrics(code_facts: dict[str, Any]) -> set[str]:
    """Every sample name some service exports, plus `up`, which Prometheus adds to every target."""
    return {"up"}.union(*(set(entry["metrics"]) for entry in code_facts["services"].values()))


def orderpath_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run an orderpath service (`run NAME`), by compose name."""
    return {name: svc for name, svc in compose["services"].items()
            if isinstance(svc.get("command"), list) and svc["command"][:1] == ["run"]}
