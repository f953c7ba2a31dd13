"""Control's state on disk: written whole (to a temporary file, then renamed) after every change.

A restarted control reads it back, so an operator's forced HALT, hold fire, kill switch and strategy
switches survive it, and so does the state's numbering (subscribers see one sequence, not a restart).
The file is JSON, small, and changes only when the state does (a few times a day).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.runtime.state_files import read_if_present, replace_atomically


class StateFileError(ValueError):
    """The state file exists but cannot be used; the message says which and why."""


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, None if there is no file; StateFileError if it is unreadable or malformed."""
    try:
        data = read_if_present(path)
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc.strerror}") from exc
    if data is None:
        return None
    try:
        saved = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path}: not JSON: {exc}") from exc
    missing = {"epoch", "seq", "risk_levels", "forced", "hold_fire", "cancel_all", "strategy_enabled"} - set(saved)
    if missing:
        raise StateFileError(f"{path}: missing {', '.join(sorted(missing))}")
    return saved


def save_state(path: Path, saved: dict[str, Any]) -> None:
    """Replace the file atomically: a crash leaves the old state or the new one, never half of one."""
    replace_atomically(path, json.dumps(saved, sort_keys=True).encode())
