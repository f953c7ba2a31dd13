"""Control's state on disk: written whole (to a temporary file, then renamed) after every change.

A restarted control reads it back, so an operator's forced HALT, hold fire, kill switch and strategy
switches survive it, and so does the state's numbering (subscribers see one sequence, not a restart).
The file is JSON, small, and changes only when the state does (a few times a day).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class StateFileError(ValueError):
    """The state file exists but cannot be used; the message says which and why."""


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, None if there is no file; StateFileError if it is unreadable or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        saved = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path}: not JSON: {exc}") from exc
    missing = {"epoch", "seq", "risk_levels", "forced", "hold_fire", "cancel_all", "strategy_enabled"} - set(saved)
    if missing:
        raise StateFileError(f"{path}: missing {', '.join(sorted(missing))}")
    return saved


def save_state(path: Path, saved: dict[str, Any]) -> None:
    """Replace the file atomically: a crash leaves the old state or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(saved, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
