"""Prometheus's own checks, when promtool is installed (Debian: the `prometheus` package): every
service's metrics by its naming conventions (base units, `_total` counters, help text), and the
Prometheus config and alert rules of the monitoring profile. Each service's exposition is its real
registry, built by its own `main` up to the loop (tests/unit/deploy/code_facts.py);
tests/e2e/test_observability.py runs the same check on a running stack's scrapes."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from contracts.enums import ServiceName
from tests.unit.deploy.conftest import REPO

PROMETHEUS = REPO / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus); Prometheus's own checks "
                    "of the metric names, the config and the rules were not run")
    return path


def run(promtool: str, *args: str, text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], input=text, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_promtool_flags_an_abbreviated_unit(promtool: str) -> None:
    """The check below is not vacuous: this promtool lints names."""
    done = run(promtool, "check", "metrics", text="# HELP call_latency_ns x\n# TYPE call_latency_ns gauge\n"
                                                  "call_latency_ns 1\n")
    assert done.returncode != 0 and "abbreviated units" in done.stdout + done.stderr


@pytest.mark.parametrize("service", [str(name) for name in ServiceName])
def test_promtool_has_nothing_to_say_about_a_services_metrics(promtool: str, code_facts: dict[str, Any],
                                                              service: str) -> None:
    text = code_facts["services"][service]["exposition"]
    assert "# TYPE" in text, f"{service}: empty exposition"
    done = run(promtool, "check", "metrics", text=text)
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), f"{service}:\n{done.stdout}{done.stderr}"


def test_promtool_accepts_the_prometheus_config_and_its_rule_files(promtool: str) -> None:
    done = run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    rule_files = sorted(PROMETHEUS.glob("*.yml"))
    rule_files.remove(PROMETHEUS / "prometheus.yml")
    assert rule_files
    done = run(promtool, "check", "rules", *map(str, rule_files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
