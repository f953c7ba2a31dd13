"""The operator audit: one JSON line per command, appended, never rewritten.

Each record says who (the CURVE key the request was authenticated with, and what the client said it
is), what (the verb and its arguments), when (wall clock, UTC) and the result (ok, or the refusal).
The file is opened for appending and each record is one write followed by fsync, so records from a
crash are whole or absent, and nothing earlier can be changed through this code.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.runtime.clock import Clock


class AuditLog:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(self, *, key: str, who: str, verb: str, args: dict[str, str], ok: bool, result: str) -> dict[str, Any]:
        """Append one record; returns it (the service logs the same fields)."""
        wall_ns = self.clock.wall_ns()
        entry = {
            "ts": datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat(timespec="milliseconds"),
            "ts_ns": wall_ns,
            "key": key,
            "who": who,
            "verb": verb,
            "args": args,
            "ok": ok,
            "result": result,
        }
        os.write(self._fd, (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode())
        os.fsync(self._fd)
        return entry

    def close(self) -> None:
        os.close(self._fd)


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every record of an audit file, oldest first (for tests and tools)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
