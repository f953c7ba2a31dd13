"""`orderpath record FILE`: a stream in the recorded format, from the synthetic market or from Shioaji's
quotes (here the fake's: nothing in the tests reaches SinoPac), that reads back whole."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.feed.replay import BidAskRecord, RecordReader, ReplayBooks, TickRecord
from tests.e2e.stack_config import QUOTER, REPO, write_stack_config
from tests.e2e.waiting import wait_until

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


def test_options_that_do_not_apply_are_refused_not_ignored(tmp_path: Path) -> None:
    refusals = [
        (("--source", "bloomberg"), "synthetic, shioaji or fake-shioaji"),
        (("--events", "0"), "at least 1"),
        (("--rate", "0"), "above 0"),
        (("--rate", "nan"), "above 0"),
        (("--source", "fake-shioaji", "--duration", "0"), "above 0"),
        (("--duration", "5"), "a synthetic one is --events long"),
        (("--source", "fake-shioaji", "--rate", "50"), "come at the market's pace"),
    ]
    for flags, message in refusals:
        done = record(tmp_path, tmp_path / "x.jsonl", *flags)
        assert (done.returncode, message in done.stderr) == (2, True), (flags, done.stderr)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_duration_bounds_a_recording_of_the_brokers_quotes(tmp_path: Path) -> None:
    file = tmp_path / "quotes.jsonl"
    done = record(tmp_path, file, "--source", "fake-shioaji", "--duration", "0.5")  # no --events: no other bound
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(read_back(file))} records" in done.stdout


def start_recording(tmp_path: Path, *, nohup: bool = False) -> tuple[subprocess.Popen[str], Path]:
    """A recorder of the fake's quotes, once it has written some (the file is written in 8 KiB blocks: a size
    above 0 means some 40 quotes are in)."""
    file = tmp_path / "quotes.jsonl"
    config = write_stack_config(tmp_path, strategies=[QUOTER], order_adapter={"broker": "sim"})
    recorder = subprocess.Popen([sys.executable, "-m", "services.cli", "record", str(file), "--config", str(config),
                                 "--source", "fake-shioaji"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=(lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if nohup else None)
    wait_until("the recording has begun", lambda: file.exists() and file.stat().st_size > 0,
               check=lambda: None if recorder.poll() is None else pytest.fail(recorder.communicate()[1]))
    return recorder, file


def stopped_whole(recorder: subprocess.Popen[str], file: Path, stop: signal.Signals) -> None:
    recorder.send_signal(stop)
    stdout, stderr = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, stderr
    records = read_back(file)  # strict: a line cut off at the end would fail here
    assert records and f"wrote {len(records)} records" in stdout


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_a_recording_with_the_file_whole(tmp_path: Path, stop: signal.Signals) -> None:
    recorder, file = start_recording(tmp_path)
    try:
        stopped_whole(recorder, file, stop)
    finally:
        if recorder.poll() is None:
            recorder.kill()


def test_under_nohup_a_closed_terminal_does_not_end_a_recording(tmp_path: Path) -> None:
    recorder, file = start_recording(tmp_path, nohup=True)
    try:
        recorder.send_signal(signal.SIGHUP)
        size = file.stat().st_size
        wait_until("it records on after the hang-up", lambda: file.stat().st_size > size,
                   check=lambda: None if recorder.poll() is None else pytest.fail("SIGHUP ended it"))
        assert recorder.poll() is None, "SIGHUP ended it"
        stopped_whole(recorder, file, signal.SIGTERM)
    finally:
        if recorder.poll() is None:
            recorder.kill()


def test_a_symbol_the_broker_does_not_list_is_refused_before_any_file_exists(tmp_path: Path) -> None:
    """The fake lists what the instruments file lists (futures too, since the bridge takes their quotes):
    a symbol outside it is refused before anything is recorded."""
    config = write_stack_config(tmp_path, strategies=[QUOTER], order_adapter={"broker": "sim"},
                                feed={"source": "synthetic", "symbols": ["2330", "9999"]})
    done = subprocess.run([sys.executable, "-m", "services.cli", "record", str(tmp_path / "never.jsonl"),
                           "--config", str(config), "--source", "fake-shioaji"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "9999" in done.stderr
    assert not (tmp_path / "never.jsonl").exists()
