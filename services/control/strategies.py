"""The `strategies` section of control's status: every strategy of strategy_limits.yaml, and for an external
one (no class: a process of its own, docs/wire.md) whether it is connected.

An external strategy heartbeats on the ops socket as instance `strategy-<id>` (service `strategy`), like any
service, so its liveness is the heartbeat tracker's (alive, silent, stopped) and the silent-service alert
covers it; one never heard from since control started is `not_connected`. Its intents are not what says it
is connected: a strategy may rightly send none for minutes.
"""

from __future__ import annotations

from typing import Any

from contracts.enums import ServiceName
from services.runtime.config.strategy_limits import StrategyEntry

NOT_CONNECTED = "not_connected"


def external_instance(strategy_id: str) -> str:
    """The instance name an external strategy heartbeats under."""
    return f"{ServiceName.STRATEGY}-{strategy_id}"


def strategies_status(entries: list[StrategyEntry], services: dict[str, Any]) -> dict[str, Any]:
    """Per strategy id: hosted by a runner or external, enabled in the file, and for an external one its
    connection state and heartbeat age (from the heartbeat tracker's `services`)."""
    out: dict[str, Any] = {}
    for entry in entries:
        row: dict[str, Any] = {"external": entry.external, "enabled": entry.enabled, "symbols": list(entry.symbols)}
        if entry.external:
            seen = services.get(external_instance(entry.id))
            row["instance"] = external_instance(entry.id)
            row["state"] = seen["state"] if seen else NOT_CONNECTED
            row["heartbeat_age_s"] = seen["heartbeat_age_s"] if seen else None
        out[entry.id] = row
    return out
