"""Where the adapter keeps a session's files, and how a new session puts the last one aside.

A session's files are the journal (its history of commands, answers and reports, replayed to
risk and strategies at their start) and, with the simulator, the simulated broker's state. A
restarted adapter continues its session, and so does `orderpath up`; `orderpath up --fresh`
(LocalStack.start(fresh=True)) starts a new one, for a demo that must not inherit the last run's
positions. The last session's files move to var/archive/<UTC time>/, nothing is deleted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from services.runtime.config.loader import load_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import StackConfig


def under_var(stack: StackConfig, path: Path) -> Path:
    return path if path.is_absolute() else Path(stack.var_dir) / path


def journal_path(stack: StackConfig, config: OrderAdapterConfig) -> Path:
    return under_var(stack, config.journal.path)


def session_files(stack: StackConfig, config: OrderAdapterConfig) -> list[Path]:
    """The files of the current session, with SQLite's -wal and -shm companions."""
    mains = [journal_path(stack, config)]
    if config.sim.state_file is not None:
        mains.append(under_var(stack, config.sim.state_file))
    return [Path(f"{main}{suffix}") for main in mains for suffix in ("", "-wal", "-shm")]


def archive_session(stack: StackConfig, also: Sequence[Path] = ()) -> Path | None:
    """Move the last session's files aside, with the other services' state files `also`; returns where they
    went, or None if there were none."""
    config = load_yaml_model(stack.order_adapter_file, OrderAdapterConfig)
    present = [path for path in [*session_files(stack, config), *also] if path.exists()]
    if not present:
        return None
    folder = Path(stack.var_dir) / "archive" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder.mkdir(parents=True, exist_ok=True)
    for path in present:
        path.rename(folder / path.name)
    return folder
