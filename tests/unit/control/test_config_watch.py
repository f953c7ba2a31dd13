"""ConfigWatcher: a valid change is taken, an invalid one refused with the reason while the old version stays."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from services.control.config_watch import ConfigWatcher, Outcome
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


def settled(watch: ConfigWatcher) -> list[Outcome]:
    """The poll after the one that saw the file move: a file is read once it has held still for one poll."""
    assert watch.poll() == [], "a file that just moved is not read yet"
    return watch.poll()


def watcher(tmp_path: Path) -> tuple[ConfigWatcher, Path]:
    path = tmp_path / "strategy_limits.yaml"
    write(path, limits_text(500))
    watch = ConfigWatcher({"strategy_limits": (path, StrategyLimitsConfig)})
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
    assert "strategies.0.budget_us" in refused.error and "-5" in refused.error
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
    before = watch.versions()["strategy_limits"]
    second = {**STRATEGY, "id": "mm2"}
    whole = yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": 800}, second]})
    half = yaml.safe_dump({"strategies": [{**STRATEGY, "budget_us": 800}]})
    write(path, half)
    assert watch.poll() == [], "just moved: not read"
    write(path, whole)  # the save goes on before the next poll
    assert watch.poll() == [], "moved again: still not read"
    assert watch.versions()["strategy_limits"] == before
    (taken,) = watch.poll()
    assert taken.changed and taken.version == version_of(whole)


def test_a_forced_reload_reads_at_once(tmp_path: Path) -> None:
    watch, path = watcher(tmp_path)
    write(path, limits_text(800))
    (taken,) = watch.poll(force=True)
    assert taken.changed and taken.version == version_of(limits_text(800))
    assert watch.poll() == [], "what was read is not read again"
