"""Writes a complete stack configuration into a folder, on loopback ports free right now.

Used by the e2e tests and the benchmarks to run a LocalStack beside anything else on the machine;
the instruments and adapter settings are the shipped ones from config/, except the simulator's
latency: the shipped file models the broker's (tens of milliseconds, a tail, rare timeouts), and a
test or a bench that does not pass its own adapter settings runs it fast (FAST_SIM), so its timing
and its figures do not depend on chance.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import yaml

from contracts.enums import ServiceName

REPO = Path(__file__).resolve().parents[1]
FAST_SIM: dict[str, Any] = {"ack_latency_us": 1000, "latency_jitter_us": 0, "tail_rate": 0.0, "tail_latency_us": 0,
                            "timeout_rate": 0.0}
"""The simulator answering in 1 ms with no tail and no timeouts (the loop's timers have millisecond resolution);
the shipped file's other simulator settings (its state file) are kept."""
SOCKET_NAMES = ("md", "intents", "orders", "exec", "risk", "control", "ops", "exec_replay")


def free_ports(count: int) -> list[int]:
    holders = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        holders.append(sock)
    ports = [sock.getsockname()[1] for sock in holders]
    for sock in holders:
        sock.close()
    return ports


def write_stack_config(
    folder: Path,
    *,
    strategies: list[dict[str, Any]],
    feed: dict[str, Any] | None = None,
    heartbeat_interval_ms: int = 100,
    metrics: bool = False,
    order_adapter: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
    curve_ops: bool = True,
    supervision: dict[str, Any] | None = None,
    transport: str = "tcp",
) -> Path:
    """stack.yaml and its companions in `folder`; returns the stack.yaml path. `risk` adds sections
    (global, stormguard, costs, book) to strategy_limits.yaml beside the strategies. The operator plane
    is CURVE-authenticated as shipped (keys in `folder`/keys, made on first start) unless `curve_ops`
    is False. `supervision` is stack.yaml's section of that name (how `orderpath up` restarts a service).
    `transport` "ipc" puts every socket on a Unix domain socket under `folder`/ipc instead of tcp loopback."""
    ports = free_ports(len(SOCKET_NAMES) + len(ServiceName))
    if transport == "ipc":
        (folder / "ipc").mkdir(parents=True, exist_ok=True)
        endpoints = {name: f"ipc://{folder / 'ipc' / name}" for name in SOCKET_NAMES}
    else:
        endpoints = {name: f"tcp://127.0.0.1:{port}" for name, port in zip(SOCKET_NAMES, ports, strict=False)}
    metrics_ports = {
        str(service): (port if metrics else 0)
        for service, port in zip(ServiceName, ports[len(SOCKET_NAMES):], strict=True)
    }
    stack = {
        "endpoints": endpoints,
        "metrics_ports": metrics_ports,
        "heartbeat_interval_ms": heartbeat_interval_ms,
        "state_broadcast_interval_ms": heartbeat_interval_ms,
        "service_silent_after_ms": max(5000, 5 * heartbeat_interval_ms),
        "feed": feed or {"source": "synthetic", "rate_hz": 200, "symbols": ["2330", "2317", "2454"]},
        "var_dir": str(folder / "var"),
        "curve": {"ops": curve_ops, "keys_dir": str(folder / "keys")},
        **({"supervision": supervision} if supervision is not None else {}),
    }
    (folder / "stack.yaml").write_text(yaml.safe_dump(stack), encoding="utf-8")
    (folder / "strategy_limits.yaml").write_text(yaml.safe_dump({**(risk or {}), "strategies": strategies}),
                                                 encoding="utf-8")
    shutil.copy(REPO / "config" / "instruments.yaml", folder / "instruments.yaml")
    if order_adapter is None:
        shipped = yaml.safe_load((REPO / "config" / "order_adapter.yaml").read_text(encoding="utf-8"))
        order_adapter = {**shipped, "sim": {**shipped.get("sim", {}), **FAST_SIM}}
    (folder / "order_adapter.yaml").write_text(yaml.safe_dump(order_adapter), encoding="utf-8")
    return folder / "stack.yaml"
