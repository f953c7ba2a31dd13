"""`orderpath up --duration N --json`: the whole stack as real processes, ending in a JSON summary."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.config.stack import load_stack
from services.runtime.curve import ensure_keys
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e


def test_up_runs_the_stack_and_prints_a_json_summary(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER], heartbeat_interval_ms=500)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--config", str(config), "--duration", "6", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"ticks", "intents", "approved", "rejected", "orders", "fills", "bad_messages",
            "tick_to_trade_us", "stormguard_levels", "stormguard_transitions"} <= summary.keys()
    assert set(summary["stormguard_levels"]) == {"global", "mm1"}
    for transition in summary["stormguard_transitions"]:
        assert set(transition) == {"scope", "from", "to", "reason"}
    assert summary["ok"] is True
    assert summary["ticks"] > 0 and summary["intents"] > 0 and summary["approved"] > 0
    assert summary["orders"] > 0 and summary["fills"] > 0
    assert summary["bad_messages"] == 0
    t2t = summary["tick_to_trade_us"]
    assert t2t["n"] > 0 and 0 < t2t["p50"] <= t2t["p99"]
    assert set(summary["services"]) == {"adapter", "control", "feed", "risk", "strategy"}
    assert "ticks" in done.stderr, "live progress lines go to stderr"
    for name in ("adapter", "control", "feed", "risk", "strategy"):
        log = (tmp_path / "var" / "log" / f"{name}.log").read_text()
        first = json.loads(log.splitlines()[0])
        assert first["service"] == name and "timestamp" in first
    (ready,) = [entry for line in (tmp_path / "var" / "log" / "adapter.log").read_text().splitlines()
                if line.startswith("{") and (entry := json.loads(line))["event"] == "adapter_ready"]
    assert (ready["broker"], ready["shioaji_server"]) == ("sim", None)


def test_ctl_status_without_control_says_what_to_do(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER])
    ensure_keys(load_stack(config).curve)  # the keys of an earlier start: only control is missing
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "ctl", "status", "--config", str(config), "--timeout", "0.3"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "no answer from control" in done.stderr and "orderpath up" in done.stderr


def test_up_stops_every_service_on_sigint_and_still_summarises(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER], heartbeat_interval_ms=200)
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--config", str(config), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert up.stderr is not None
        # up gives up by itself (with an error) if the stack is not ready within its own deadline
        for line in up.stderr:
            if line.startswith("all services up"):
                break
        else:
            raise AssertionError("up ended before the stack was up")
        up.send_signal(signal.SIGINT)
        stdout, stderr = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["ok"] is True, f"{summary.get('error')}\n{stderr}"
    assert up.returncode == 0
    assert set(summary["services"]) == {"adapter", "control", "feed", "risk", "strategy"}
    assert [state for name, state in summary["services"].items() if name != "control"] == ["stopped"] * 4


def up_for(config: Path, *flags: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--config", str(config), "--duration", "4", "--json", *flags],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr


def adapter_runs(journal: Path) -> int:
    """How many adapter processes have opened this journal."""
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_up_continues_the_desk_and_fresh_puts_the_last_session_aside(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER], heartbeat_interval_ms=200)
    var = tmp_path / "var"
    journal, control_state = var / "adapter-journal.sqlite", var / "control-state.json"
    up_for(config)
    assert adapter_runs(journal) == 1 and control_state.exists()

    up_for(config)
    assert adapter_runs(journal) == 2, "the second up's adapter continued the same journal"
    assert not (var / "archive").exists()

    up_for(config, "--fresh")
    (archived,) = (var / "archive").iterdir()
    assert {"adapter-journal.sqlite", "sim-broker.sqlite", "control-state.json", "risk-state.json"} \
        <= {p.name for p in archived.iterdir()}
    assert adapter_runs(archived / "adapter-journal.sqlite") == 2, "the last session, whole"
    assert adapter_runs(journal) == 1, "a new journal"
