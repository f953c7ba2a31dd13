"""config/stack.yaml: where every socket lives, metrics ports, timers, the feed, and the other files.

Endpoints, metrics ports and address and a few feed settings can be overridden from the environment
(`ORDERPATH_MD_ENDPOINT`, `ORDERPATH_RISK_METRICS_PORT`, `ORDERPATH_METRICS_ADDRESS`,
`ORDERPATH_FEED_REPLAY_FILE`, …), so a
container can point at its peers by host name and `orderpath replay` can pick the recording.
Relative paths in the file are resolved against the directory of stack.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.enums import ServiceName
from services.runtime.config.control import ControlConfig
from services.runtime.config.curve import CurveConfig
from services.runtime.config.loader import ConfigError, load_yaml_model
from services.runtime.config.risk import RiskConfig
from services.runtime.config.supervision import SupervisionConfig

DEFAULT_STACK_FILE = Path("config/stack.yaml")
STACK_FILE_ENV = "ORDERPATH_CONFIG"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoints(Strict):
    md: str
    intents: str
    orders: str
    exec: str
    risk: str
    control: str
    ops: str
    exec_replay: str
    """The adapter's ROUTER answering ExecReplayRequest from its journal; risk and strategy connect a DEALER."""

    @field_validator("*")
    @classmethod
    def _known_transport(cls, value: str) -> str:
        if not value.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError("must start with tcp://, ipc:// or inproc://")
        return value


class SocketTuning(Strict):
    max_msg_size_bytes: int = Field(1 << 20, gt=0)
    stream_hwm: int = Field(100_000, gt=0)
    order_send_hwm: int = Field(1000, gt=0)
    order_recv_hwm: int = Field(1000, gt=0)
    linger_ms: int = Field(0, ge=0)
    data_reconnect_ivl_ms: int = Field(
        10, gt=0, description="how often a market-data SUB or an order sender retries a peer that is not there: a "
                              "subscriber connected before its publisher binds (every subscriber of the feed, which "
                              "starts last) misses everything published until its next retry; ZeroMQ's default is "
                              "100 ms")


class FeedConfig(Strict):
    source: Literal["synthetic", "replay", "shioaji", "fake-shioaji"] = Field(
        "synthetic", description="shioaji: the broker's quote stream (session from order_adapter.yaml's "
                                 "shioaji: section); fake-shioaji: the same bridge over the fake server")
    symbols: list[str] = Field(default_factory=lambda: ["2330", "2317", "2454"])
    rate_hz: float = Field(200.0, gt=0, description="synthetic events per second, all symbols")
    seed: int = 7
    replay_file: Path | None = None
    speed: float = Field(1.0, ge=0, description="replay pace: 1 real time, N times faster, 0 flat out")
    loop_replay: bool = False
    strict: bool = Field(False, description="a malformed recorded line stops the replay instead of being skipped")
    wait_subscribers: int = Field(0, ge=0, description="hold publishing until this many subscribers")
    wait_subscribers_timeout_s: float = Field(10.0, gt=0)


class StackConfig(Strict):
    endpoints: Endpoints
    metrics_ports: dict[ServiceName, int] = Field(default_factory=dict)
    metrics_address: str = Field("127.0.0.1", min_length=1,
                                 description="the address every metrics server binds: loopback unless a scraper "
                                             "elsewhere needs it (compose sets 0.0.0.0 inside its network)")
    cpu_affinity: dict[ServiceName, list[int]] = Field(
        default_factory=dict, description="pin a service to these CPUs (os.sched_setaffinity); see README"
    )
    heartbeat_interval_ms: int = Field(1000, gt=0)
    state_broadcast_interval_ms: int = Field(1000, gt=0)
    service_silent_after_ms: int = Field(3000, gt=0)
    stream_silent_heartbeats: int = Field(
        4, ge=3, description="a subscribed stream that received nothing for this many heartbeat intervals while "
                             "its live publisher's seq advanced is dead: its socket is made again and an alert "
                             "raised (services/runtime/stream_watch.py)")
    sockets: SocketTuning = SocketTuning()
    feed: FeedConfig = FeedConfig()
    strategy_limits_file: Path = Path("strategy_limits.yaml")
    order_adapter_file: Path = Path("order_adapter.yaml")
    instruments_file: Path = Path("instruments.yaml")
    var_dir: Path = Path("../var")
    control: ControlConfig = ControlConfig()
    risk: RiskConfig = RiskConfig()
    curve: CurveConfig = CurveConfig()
    supervision: SupervisionConfig = SupervisionConfig()

    @field_validator("metrics_ports")
    @classmethod
    def _ports_in_range(cls, ports: dict[ServiceName, int]) -> dict[ServiceName, int]:
        for service, port in ports.items():
            if not 0 <= port <= 65535:
                raise ValueError(f"{service}: port {port} is outside 0..65535 (0 turns metrics off)")
        return ports


METRICS_ADDRESS_ENV = "ORDERPATH_METRICS_ADDRESS"

FEED_ENV_FIELDS = ("source", "replay_file", "speed", "strict")
"""Feed settings a run can override from the environment (ORDERPATH_FEED_SPEED, …): `orderpath replay`."""


def _env_overrides(raw: StackConfig, environ: Mapping[str, str]) -> StackConfig:
    """Apply ORDERPATH_<SOCKET>_ENDPOINT and ORDERPATH_<SERVICE>_METRICS_PORT, validated like the file."""
    data = raw.model_dump()
    applied: list[str] = []
    for name in data["endpoints"]:
        variable = f"ORDERPATH_{name.upper()}_ENDPOINT"
        if environ.get(variable):
            data["endpoints"][name] = environ[variable]
            applied.append(variable)
    for service in ServiceName:
        variable = f"ORDERPATH_{service.upper()}_METRICS_PORT"
        if environ.get(variable):
            data["metrics_ports"][service] = environ[variable]
            applied.append(variable)
    if environ.get(METRICS_ADDRESS_ENV):
        data["metrics_address"] = environ[METRICS_ADDRESS_ENV]
        applied.append(METRICS_ADDRESS_ENV)
    for field in FEED_ENV_FIELDS:
        variable = f"ORDERPATH_FEED_{field.upper()}"
        if environ.get(variable):
            data["feed"][field] = environ[variable]
            applied.append(variable)
    if not applied:
        return raw
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']} (got {error.get('input')!r})"
            for error in exc.errors()
        )
        raise ConfigError(f"environment override ({', '.join(applied)}) refused: {problems}") from exc


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def stack_file(explicit: Path | None = None) -> Path:
    """The stack file to use: the argument, else $ORDERPATH_CONFIG, else config/stack.yaml."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(STACK_FILE_ENV)
    return Path(from_env) if from_env else DEFAULT_STACK_FILE


def load_stack(path: Path | None = None, environ: Mapping[str, str] | None = None) -> StackConfig:
    """Load stack.yaml, apply environment overrides (os.environ unless given), make paths absolute."""
    path = stack_file(path)
    config = _env_overrides(load_yaml_model(path, StackConfig), os.environ if environ is None else environ)
    base = path.resolve().parent
    feed = config.feed
    if feed.replay_file is not None:
        feed = feed.model_copy(update={"replay_file": _resolve(base, feed.replay_file)})
    return config.model_copy(
        update={
            "feed": feed,
            "strategy_limits_file": _resolve(base, config.strategy_limits_file),
            "order_adapter_file": _resolve(base, config.order_adapter_file),
            "instruments_file": _resolve(base, config.instruments_file),
            "var_dir": _resolve(base, config.var_dir),
            "curve": config.curve.model_copy(update={"keys_dir": _resolve(base, config.curve.keys_dir)}),
        }
    )
