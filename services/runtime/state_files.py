"""A service's state file on disk: read if it is there, replaced whole so a crash leaves the old or the new."""

from __future__ import annotations

import os
from pathlib import Path


def read_if_present(path: Path) -> bytes | None:
    """The file's bytes, None if there is no file; any other failure to read raises OSError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def replace_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` beside `path` and rename it over `path`: a crash leaves the old state or the new one, never
    half of one. `durable` fsyncs before the rename, so the new state outlives the host, not only the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
