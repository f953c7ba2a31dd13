"""ConfigWatcher: a valid change is taken, an invalid one refused with the reason while the old version stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from services.control import config_watch
from services.control.config_watch import ConfigWatcher, Outcome
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import StrategyLimitsConfig
from services.runtime.hot_config import version_of

STRATEGY = {"id": "mm1", "class": "services.strategy.strategies.quoter:Quoter", "symbols": ["2330"]}


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # A new mtime for each write, whatever the filesystem's clock granularity.
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def limits_text(budget_us: int) -> str:
    return yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": budget_us}]})


SETTLE_NS = 100_000_000


def settled(watch: ConfigWatcher) -> list[Outcome]:
    """What a poll sees once the file has held still for the settle time; the poll that saw it move read nothing."""
    assert watch.poll() == [], "a file that just moved is not read yet"
    clock = watch.clock
    assert isinstance(clock, FakeClock)
    clock.advance(SETTLE_NS)
    return watch.poll()


def watcher(tmp_path: Path) -> tuple[ConfigWatcher, Path]:
    path = tmp_path / "strategy_limits.yaml"
    write(path, limits_text(500))
    watch = ConfigWatcher({"strategy_limits": (path, StrategyLimitsConfig)}, FakeClock(), SETTLE_NS)
    first = watch.poll(force=True)
    assert first[0].changed and first[0].version == version_of(limits_text(500))
    return watch, path


def test_an_unchanged_file_is_not_read_again_and_a_touch_changes_no_version(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    assert watch.poll() == []
    write(path, limits_text(500))
    touched = settled(watch)
    assert len(touched) == 1 and not touched[0].changed and touched[0].error is None


def test_a_valid_change_is_taken(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    before = watch.versions()["strategy_limits"]
    write(path, limits_text(800))
    outcome = settled(watch)[0]
    assert outcome.changed and outcome.previous == before and outcome.version == version_of(limits_text(800))
    current = watch.current("strategy_limits")
    assert current is not None and current.model.strategies[0].budget_us == 800
    assert watch.text("strategy_limits", outcome.version) == limits_text(800)
    assert watch.text("strategy_limits", before) is None, "only the current version is served"


def test_an_invalid_file_is_refused_with_field_and_value_and_the_old_version_stays(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    before = watch.versions()["strategy_limits"]
    write(path, limits_text(-5))
    refused = settled(watch)[0]
    assert not refused.changed and refused.version == before
    assert "strategies[mm1].budget_us" in refused.error and "-5" in refused.error
    assert watch.errors() == {"strategy_limits": refused.error}
    write(path, limits_text(-5))
    assert settled(watch) == [], "the same refused text is not reported on every poll"
    assert watch.poll(force=True)[0].error == refused.error, "but it is when asked"
    write(path, "strategies: [\n")
    assert "not valid YAML" in settled(watch)[0].error
    write(path, limits_text(700))
    fixed = settled(watch)[0]
    assert fixed.changed and fixed.error is None and watch.errors() == {}


def test_a_file_caught_half_written_is_not_taken_even_when_the_half_validates(tmp_path: Path) -> None:
    """A poll landing inside an in-place save sees a prefix; here the prefix is a valid file of its own (the
    second strategy missing), which must never become the desk's config."""
    watch, path = watcher(tmp_path)
    clock = watch.clock
    assert isinstance(clock, FakeClock)
    before = watch.versions()["strategy_limits"]
    second = {**STRATEGY, "id": "mm2"}
    whole = yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": 800}, second]})
    half = yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": 800}]})
    write(path, half)
    assert watch.poll() == [], "just moved: not read"
    clock.advance(SETTLE_NS - 1)
    assert watch.poll() == [], "a poll that comes early (a late timer's catch-up) does not shorten the wait"
    write(path, whole)  # the save goes on
    clock.advance(SETTLE_NS - 1)
    assert watch.poll() == [], "moved again: the wait starts over"
    clock.advance(SETTLE_NS - 1)
    assert watch.poll() == [], "one ns short of the settle time since it last moved"
    assert watch.versions()["strategy_limits"] == before
    clock.advance(1)
    (taken,) = watch.poll()
    assert taken.changed and taken.version == version_of(whole)


def test_a_file_that_moves_while_it_is_read_is_read_again_or_later(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    watch, path = watcher(tmp_path)
    write(path, limits_text(800))
    real_stat = config_watch._stat
    moving = iter([(1, 1, 1), (2, 2, 2), (2, 2, 2)])
    monkeypatch.setattr(config_watch, "_stat", lambda p: next(moving, None) or real_stat(p))
    (forced,) = watch.poll(force=True)  # read under (1,1,1), moved to (2,2,2), read again and it held
    assert forced.changed and forced.version == version_of(limits_text(800))
    write(path, limits_text(700))
    stats = iter([(3, 3, 3), (3, 3, 3), (4, 4, 4)])  # seen, held past the settle time, moved during the read
    monkeypatch.setattr(config_watch, "_stat", lambda p: next(stats))
    assert watch.poll() == []
    watch.clock.advance(SETTLE_NS)  # type: ignore[attr-defined]
    assert watch.poll() == [], "moved while read: not taken, looked at again by later polls"
    assert watch.versions()["strategy_limits"] == version_of(limits_text(800))


def test_a_forced_reload_reads_at_once(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    write(path, limits_text(800))
    (taken,) = watch.poll(force=True)
    assert taken.changed and taken.version == version_of(limits_text(800))
    assert watch.poll() == [], "what was read is not read again"


def test_a_file_that_is_not_utf8_is_refused_not_fatal(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    path.write_bytes(limits_text(800).encode() + "# 台積電\n".encode("big5"))
    (refused,) = settled(watch)
    assert not refused.changed and "not UTF-8" in (refused.error or "")


def test_a_file_gone_for_a_moment_raises_nothing_and_one_gone_for_good_is_refused_once(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    text = path.read_text()
    path.unlink()
    assert watch.poll() == [], "gone: waits like any change"
    write(path, text)  # an editor's save that removed the file first
    (back,) = settled(watch)
    assert not back.changed and back.error is None and watch.errors() == {}, "nothing refused, nothing raised"
    path.unlink()
    (refused,) = settled(watch)
    assert "cannot read" in (refused.error or "")
    watch.clock.advance(SETTLE_NS)  # type: ignore[attr-defined]
    assert watch.poll() == [], "refused once, not on every poll"
