"""`orderpath record FILE`: a stream in the recorded format, from the synthetic market or from Shioaji's
quotes (here the fake's: nothing in the tests reaches SinoPac), that reads back whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.feed.replay import BidAskRecord, RecordReader, ReplayBooks, TickRecord
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config

pytestmark = pytest.mark.e2e

FEED_SYMBOLS = ["2330", "2317", "2454"]


def record(tmp_path: Path, file: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    config = write_stack_config(tmp_path, strategies=[QUOTER], order_adapter={"broker": "sim"})
    return subprocess.run([sys.executable, "-m", "services.cli", "record", str(file), "--config", str(config),
                           *flags], cwd=REPO, capture_output=True, text=True, timeout=120)


def read_back(file: Path) -> list[BidAskRecord | TickRecord]:
    return list(RecordReader(file, strict=True).records())


def test_the_fake_brokers_quotes_are_recorded_as_they_came_and_replay(tmp_path: Path) -> None:
    file = tmp_path / "quotes.jsonl.gz"
    done = record(tmp_path, file, "--source", "fake-shioaji", "--events", "40", "--duration", "60")
    assert done.returncode == 0, done.stderr
    assert "wrote 40 records (40 fake-shioaji quotes" in done.stdout
    records = read_back(file)
    assert len(records) == 40
    assert {r.symbol for r in records} <= set(FEED_SYMBOLS)
    assert {type(r) for r in records} == {BidAskRecord, TickRecord}, "books and trades, each as its own line"
    books = ReplayBooks()
    assert any(books.apply(r) for r in records), "the recording builds books on replay"


def test_the_synthetic_market_is_recorded_as_books_and_trades(tmp_path: Path) -> None:
    file = tmp_path / "synthetic.jsonl"
    done = record(tmp_path, file, "--events", "30")
    assert done.returncode == 0, done.stderr
    records = read_back(file)
    assert sum(isinstance(r, BidAskRecord) for r in records) == 30
    assert f"wrote {len(records)} records (30 market events)" in done.stdout


def test_shioaji_without_a_session_section_says_what_to_add_and_logs_nothing_in(tmp_path: Path) -> None:
    done = record(tmp_path, tmp_path / "never.jsonl", "--source", "shioaji")
    assert done.returncode == 2
    assert "needs a shioaji: section" in done.stderr
    assert not (tmp_path / "never.jsonl").exists()


def test_an_unknown_source_or_no_events_is_refused(tmp_path: Path) -> None:
    unknown = record(tmp_path, tmp_path / "x.jsonl", "--source", "bloomberg")
    assert unknown.returncode == 2 and "synthetic, shioaji or fake-shioaji" in unknown.stderr
    nothing = record(tmp_path, tmp_path / "x.jsonl", "--events", "0")
    assert nothing.returncode == 2 and "at least 1" in nothing.stderr
