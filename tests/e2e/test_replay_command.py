"""`orderpath replay FILE`: the whole stack on a recorded stream, until all of it is published."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

SAMPLE = REPO / "data" / "sample_ticks.jsonl"
SAMPLE_EVENTS = 597  # 600 records; each symbol's opening tick comes before its first book


def replay(tmp_path: Path, file: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    # the feed holds the recording until the strategy's three symbols, risk and the adapter subscribed:
    # at speed 0 it is all out in milliseconds, before a late subscription would take effect
    config = write_stack_config(tmp_path, strategies=[QUOTER], heartbeat_interval_ms=200,
                                feed={"source": "synthetic", "wait_subscribers": 5})
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "replay", str(file), "--config", str(config), "--speed", "0",
         "--json", *flags],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_replay_publishes_the_whole_recording_and_stops(tmp_path: Path) -> None:
    done = replay(tmp_path, SAMPLE)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["replay_finished"] is True
    assert summary["ticks"] == SAMPLE_EVENTS
    assert summary["intents"] > 0 and summary["orders"] > 0


def test_a_malformed_line_is_skipped_and_counted_or_stops_a_strict_run(tmp_path: Path) -> None:
    lines = SAMPLE.read_text().splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([*lines[:10], '{"code": "2330", "close": "not a price"}', *lines[10:]]) + "\n")

    (tmp_path / "lenient").mkdir()
    lenient = replay(tmp_path / "lenient", damaged)
    assert lenient.returncode == 0, lenient.stderr
    summary = json.loads(lenient.stdout.strip().splitlines()[-1])
    assert summary["ticks"] == SAMPLE_EVENTS

    (tmp_path / "strict").mkdir()
    strict = replay(tmp_path / "strict", damaged, "--strict")
    assert strict.returncode == 1
    assert "feed exited with code 2" in strict.stderr
    feed_log = (tmp_path / "strict" / "var" / "log" / "feed.log").read_text()
    failure = next(json.loads(line) for line in feed_log.splitlines() if '"replay_failed"' in line)
    assert failure["line"] == 11 and "close" in failure["reason"]


def test_replay_of_a_missing_file_says_what_to_give(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "services.cli", "replay", str(tmp_path / "nope.jsonl")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no such file" in done.stderr and "data/sample_ticks.jsonl" in done.stderr


def trial_rows(count: int) -> list[str]:
    """The pre-open's trial matches of 2330: crossed, indicative books no order may trade against."""
    rows = []
    for n in range(count):
        stamp = f"2026-11-24T08:3{n % 10}:00.000000"
        rows.append(json.dumps({"code": "2330", "datetime": stamp, "bid_price": ["1010", "1005"], "bid_volume": [50, 9],
                                "ask_price": ["995", "1000"], "ask_volume": [40, 8], "simtrade": True}))
        rows.append(json.dumps({"code": "2330", "datetime": stamp, "close": "1005", "volume": 30,
                                "total_volume": 30, "simtrade": True}))
    return rows


def test_trial_matches_are_skipped_and_counted(tmp_path: Path) -> None:
    with_trials = tmp_path / "with_trials.jsonl"
    with_trials.write_text("\n".join([*trial_rows(20), *SAMPLE.read_text().splitlines()]) + "\n")
    done = replay(tmp_path, with_trials)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert summary["ticks"] == SAMPLE_EVENTS, "not one trial book published"
    assert (summary["trial_records"], summary["bad_lines"]) == (40, 0)


def test_a_replay_that_published_nothing_is_not_ok(tmp_path: Path) -> None:
    useless = tmp_path / "useless.jsonl"
    useless.write_text("\n".join([*trial_rows(3), '{"code": "2330", "close": "not a price"}', "not json"]) + "\n")
    done = replay(tmp_path, useless)
    assert done.returncode == 1
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is False and summary["ticks"] == 0
    assert (summary["bad_lines"], summary["trial_records"]) == (2, 6)
    assert "published no market event: 2 bad lines and 6 trial-match records" in summary["error"]


ETF_INSTRUMENTS = """instruments:
  - {symbol: "0050", kind: etf, reference: "200.65"}
  - {symbol: "00757", kind: etf, reference: "50"}
"""


def etf_session(path: Path) -> Path:
    """Real-looking ETF books: 0050 on 0.05 steps around 200.65, 00757 straddling 50 (49.99 bid, 50.00 ask:
    the 0.01 step below 50, the 0.05 step from 50), with prints through both sides."""
    rows = []
    for n in range(60):
        stamp = f"2026-11-24T09:00:{n:02d}.000000"
        bid, ask = ("200.6", "200.65") if n % 2 else ("200.65", "200.7")
        rows.append({"code": "0050", "datetime": stamp, "bid_price": [bid, "200.55", "200.5"],
                     "bid_volume": [5, 9, 12], "ask_price": [ask, "200.75", "200.8"], "ask_volume": [6, 8, 10]})
        rows.append({"code": "00757", "datetime": stamp, "bid_price": ["49.99", "49.98", "49.97"],
                     "bid_volume": [7, 9, 11], "ask_price": ["50", "50.05", "50.1"], "ask_volume": [4, 8, 12]})
        rows.append({"code": "00757", "datetime": stamp, "close": ("49.99", "50")[n % 2], "volume": 3,
                     "total_volume": 3 * (n + 1)})
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_etf_books_off_the_stock_ladder_are_traded_without_off_tick(tmp_path: Path) -> None:
    quoter = {**QUOTER, "symbols": ["0050", "00757"]}
    config = write_stack_config(tmp_path, strategies=[quoter], heartbeat_interval_ms=200,
                                feed={"source": "synthetic", "wait_subscribers": 4})
    config.with_name("instruments.yaml").write_text(ETF_INSTRUMENTS)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "replay", str(etf_session(tmp_path / "etf.jsonl")), "--config",
         str(config), "--speed", "10", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["ticks"] == 180
    assert "off_tick" not in summary["rejected"], summary["rejected"]
    assert summary["orders"] > 0 and summary["fills"] > 0, summary
