"""ConfigWatcher: control's watch over the config files, validated with the services' own pydantic models.

Polled on a timer (control.config_poll_ms): a file whose size, mtime or inode moved (or that appeared
or went) is read once its stat has stayed the same for `settle_ns` on the monotonic clock (one poll
interval: a late timer cannot shorten it), and only if the stat did not move while it was read. It
is then versioned (services/runtime/hot_config.py: a hash of its bytes) and, if the version is new,
validated. A valid file becomes the current version (control puts it in its state; the services that
reload it fetch the text); an invalid one, or one that is not UTF-8, is refused with the reason
(file, field, value) and the current version stays. So a save caught halfway is not taken even when
the half happens to validate (a strategy list cut short, a section missing that then takes its
defaults: seen in a test, a poll landing inside an in-place save), unless the writer stalls
mid-file for a whole poll interval; and an editor's save that briefly removes the file raises
nothing. `poll(force=True)` (control's start, orderpath ctl config reload) reads every file at once
whatever its stat says, reading again while the stat moves under it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pydantic

from services.runtime.clock import Clock
from services.runtime.config.loader import ConfigError, parse_yaml_model
from services.runtime.hot_config import Versioned, version_of

Stat = tuple[int, int, int]


@dataclass(frozen=True)
class Outcome:
    file: str
    version: str | None
    """The version now current (None: no valid version was ever read)."""
    changed: bool
    """A new version was taken."""
    error: str | None = None
    """Why the file on disk was refused (the current version stays)."""
    previous: str | None = None


@dataclass
class _Watched:
    path: Path
    model: type[pydantic.BaseModel]
    current: Versioned[pydantic.BaseModel] | None = None
    error: str | None = None
    refused_version: str | None = None
    stat: Stat | None = None
    """The stat of what was last read and taken or refused (MISSING: the file was not there)."""
    settling: Stat | None = None
    """A stat not yet read, and since when (monotonic ns) it has held."""
    settling_since_ns: int = 0


class ConfigWatcher:
    def __init__(self, files: dict[str, tuple[Path, type[pydantic.BaseModel]]], clock: Clock, settle_ns: int) -> None:
        self._files = {name: _Watched(path, model) for name, (path, model) in files.items()}
        self.clock = clock
        self.settle_ns = settle_ns

    def poll(self, *, force: bool = False) -> list[Outcome]:
        """What changed since the last poll (everything, with `force`), one outcome per file looked at."""
        return [outcome for name in self._files if (outcome := self._check(name, force)) is not None]

    def current(self, file: str) -> Versioned[pydantic.BaseModel] | None:
        return self._files[file].current

    def versions(self) -> dict[str, str]:
        return {name: w.current.version for name, w in self._files.items() if w.current is not None}

    def errors(self) -> dict[str, str]:
        return {name: w.error for name, w in self._files.items() if w.error is not None}

    def text(self, file: str, version: str) -> str | None:
        """The text of the current version of `file`, if `version` is it."""
        watched = self._files.get(file)
        if watched is None or watched.current is None or watched.current.version != version:
            return None
        return watched.current.text

    def _check(self, name: str, force: bool) -> Outcome | None:
        watched = self._files[name]
        stat = _stat(watched.path)
        if not force and not self._settled(watched, stat):
            return None
        watched.settling = None
        current = watched.current.version if watched.current else None
        read = _read(watched.path, stat, attempts=FORCED_READS if force else 1)
        if read is None and force:
            return self._refused(name, f"{watched.path} kept changing while it was read: run the reload again "
                                       "once it is saved", None)
        if read is None:
            return None  # being written: later polls see it settle
        text, stat = read
        watched.stat = stat
        if isinstance(text, Exception):
            return self._refused(name, f"{watched.path}: cannot read: {_reason(text)}", None)
        version = version_of(text)
        if version == current:
            watched.error = None
            return Outcome(name, current, changed=False)
        if version == watched.refused_version and not force:
            return None
        try:
            model = parse_yaml_model(text, watched.path, watched.model)
        except ConfigError as exc:
            return self._refused(name, str(exc), version)
        watched.current, watched.error, watched.refused_version = Versioned(model, version, text), None, None
        return Outcome(name, version, changed=True, previous=current)

    def _settled(self, watched: _Watched, stat: Stat) -> bool:
        """True when `stat` is new since the last read and has held for settle_ns."""
        if stat == watched.stat:
            watched.settling = None
            return False
        now_ns = self.clock.mono_ns()
        if stat != watched.settling:
            watched.settling, watched.settling_since_ns = stat, now_ns
        return now_ns - watched.settling_since_ns >= self.settle_ns

    def _refused(self, name: str, error: str, version: str | None) -> Outcome:
        watched = self._files[name]
        watched.error, watched.refused_version = error, version
        return Outcome(name, watched.current.version if watched.current else None, changed=False, error=error)



MISSING: Stat = (-1, -1, -1)
FORCED_READS = 3


def _stat(path: Path) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return MISSING
    return st.st_mtime_ns, st.st_size, st.st_ino


def _read(path: Path, stat: Stat, *, attempts: int) -> tuple[str | Exception, Stat] | None:
    """The file's text (or why it cannot be read) with the stat it was read under, read again while the
    stat moves under the read, up to `attempts` times; None if it never held still."""
    for _ in range(attempts):
        try:
            text: str | Exception = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            text = exc
        after = _stat(path)
        if after == stat:
            return text, stat
        stat = after
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start}): save it as UTF-8"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
