"""Helpers of the control-plane e2e tests: `orderpath ctl` in-process, service log lines, waiting with deadlines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from typer.testing import CliRunner, Result

from services.cli import app
from services.launcher import LocalStack

DEADLINE_S = 20.0
POLL_S = 0.05
T = TypeVar("T")


def ctl(stack_file: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """`orderpath ctl ARGS --config STACK` in this process (its stdin is not a terminal)."""
    return CliRunner().invoke(app, ["ctl", *args, "--config", str(stack_file)], input=input, env=env)


def ctl_json(stack_file: Path, *args: str) -> dict[str, Any]:
    done = ctl(stack_file, *args, "--json")
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def wait_until(what: str, condition: Callable[[], T | None], deadline_s: float = DEADLINE_S) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` and the last answer."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s}s: {what} (last: {value!r})")
        time.sleep(POLL_S)


def risk_hears_market(stack: LocalStack) -> bool:
    """Whether risk has received market data. Its SUB finds a feed that bound after it connected only at its
    next reconnect attempt (`sockets.data_reconnect_ivl_ms`); until then risk has no book and rightly refuses any
    intent as stale_market_data, so a test that trades right after start waits for this first."""
    streams = stack.status()["services"]["risk"].get("streams", {})
    return (streams.get("md", {}).get("received_seq") or 0) > 0


def log_lines(log_path: Path, event: str, *, since_start: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """The JSON log lines of `event` with these field values, written by the `since_start`-th process to
    log there or a later one (a restarted service appends to its log; each process starts with
    `service_started`)."""
    if not log_path.exists():
        return []
    starts = 0
    found = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("event") == "service_started":
            starts += 1
        if starts >= since_start and entry.get("event") == event and all(
                entry.get(key) == value for key, value in fields.items()):
            found.append(entry)
    return found


def wait_logged(log_path: Path, event: str, *, since_start: int = 1, **fields: Any) -> dict[str, Any]:
    """The first such log line, waited for."""
    return wait_until(f"{log_path.name}: {event} {fields}",
                      lambda: log_lines(log_path, event, since_start=since_start, **fields))[0]
