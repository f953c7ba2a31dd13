"""`orderpath up --broker fake-shioaji`: the whole stack with ShioajiBroker over the fake SDK in the adapter
and the quote bridge over the fake in the feed, as real processes; the orders fill."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.config.instruments import load_instruments
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e


def log_events(path: Path, event: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in path.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == event]


def test_up_with_the_fake_shioaji_broker_shows_fills(tmp_path: Path) -> None:
    config = write_stack_config(tmp_path, strategies=[QUOTER], heartbeat_interval_ms=500)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--config", str(config), "--duration", "8", "--json",
         "--broker", "fake-shioaji"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert summary["ticks"] > 0 and summary["orders"] > 0 and summary["fills"] > 0
    assert summary["bad_messages"] == 0
    logs = tmp_path / "var" / "log"
    (session,) = log_events(logs / "adapter.log", "shioaji_session")
    assert (session["fake"], session["simulation"], session["stock_account"]) == (True, True, "0000001")
    (ready,) = log_events(logs / "adapter.log", "adapter_ready")
    assert (ready["broker"], ready["shioaji_server"]) == ("fake-shioaji", "simulation"), "the run's, not the file's"
    assert [e["source"] for e in log_events(logs / "feed.log", "md_publishing")] == ["shioaji"]
    fills = log_events(logs / "adapter.log", "order_fill")
    assert fills and all(fill["last_qty"] > 0 for fill in fills)  # type: ignore[operator]
    refs = load_instruments(tmp_path / "var" / "shioaji-instruments.yaml")
    assert set(refs) == set(QUOTER["symbols"])  # type: ignore[arg-type]
    # The same reference data reached risk on md (the fake lists the file's instruments: nothing to change).
    taken = {line["symbol"]: line["outcome"] for line in log_events(logs / "risk.log", "instrument_reference")}
    assert taken == dict.fromkeys(QUOTER["symbols"], "unchanged")  # type: ignore[call-overload]
