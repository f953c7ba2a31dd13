"""ConfigWatcher: control's watch over the config files, validated with the services' own pydantic models.

Polled on a timer (control.config_poll_ms): a file whose size, mtime or inode moved is read once it
has held still for one poll (the same stat twice running), versioned (services/runtime/hot_config.py:
a hash of its bytes) and, if the version is new, validated; a file whose stat moves while it is read
is not taken either. A valid file becomes the current version (control puts it in its state; the
services that reload it fetch the text); an invalid one is refused with the reason (file, field,
value) and the current version stays. So a file caught half-written is never taken, even when the
half happens to validate (a strategy list cut short, a section missing that then takes its defaults:
seen in a test, a poll landing inside an in-place save). `poll(force=True)` (orderpath ctl config
reload) reads every file at once, whatever its stat says, and still refuses one that moved while read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pydantic

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
    """The stat of what was last read and taken or refused."""
    settling: Stat | None = None
    """A new stat seen by the last poll: the file is read if the next poll sees it unchanged."""


class ConfigWatcher:
    def __init__(self, files: dict[str, tuple[Path, type[pydantic.BaseModel]]]) -> None:
        self._files = {name: _Watched(path, model) for name, (path, model) in files.items()}

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
        if not force and stat is not None:
            if stat == watched.stat:
                return None
            if stat != watched.settling:
                watched.settling = stat  # moved since the last poll: read once it holds still for one
                return None
        watched.settling = None
        current = watched.current.version if watched.current else None
        try:
            text = watched.path.read_text(encoding="utf-8")
        except OSError as exc:
            watched.stat = stat
            return self._refused(name, f"{watched.path}: cannot read: {exc.strerror}", None)
        if stat is not None and _stat(watched.path) != stat:
            if not force:
                return None  # being written: the next polls see it settle
            return self._refused(name, f"{watched.path} changed while it was read: run the reload again once "
                                       "it is saved", None)
        watched.stat = stat
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

    def _refused(self, name: str, error: str, version: str | None) -> Outcome:
        watched = self._files[name]
        watched.error, watched.refused_version = error, version
        return Outcome(name, watched.current.version if watched.current else None, changed=False, error=error)


def _stat(path: Path) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino
