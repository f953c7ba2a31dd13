"""Config versions and hot reload, on the services' side.

A config file's version is the first 12 hex digits of the SHA-256 of its bytes, so a service that loads a
file at start and control that validated it agree on its version without asking each other. Every service
reports the version of each file it runs as `config_version_info{file, version} 1` (its heartbeats carry
it to control's status).

Control watches the files (services/control/config_watch.py) and puts the version it validated last in
its state. HotConfig keeps a service on it: when the state names another version of a file the service
reloads, it asks control for that exact text (verb "config_get"), checks its hash, validates it with the
same pydantic model and hands the model to the service's `apply`, which swaps it in one step on the loop
thread (so no message is ever handled half under the old config and half under the new). A text that does
not validate here (a service of another version) is refused with the reason, once per version, and the
service goes on with what it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pydantic
import structlog
from prometheus_client import CollectorRegistry, Gauge

from contracts.enums import ControlVerb
from contracts.messages import ControlReply, StormGuardState
from services.runtime.config.instruments import InstrumentsConfig
from services.runtime.config.loader import ConfigError, parse_yaml_model
from services.runtime.config.order_adapter import OrderAdapterConfig
from services.runtime.config.stack import StackConfig
from services.runtime.config.strategy_limits import StrategyLimitsConfig

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

STRATEGY_LIMITS, ORDER_ADAPTER, INSTRUMENTS = "strategy_limits", "order_adapter", "instruments"


def config_files(stack: StackConfig) -> dict[str, tuple[Path, type[pydantic.BaseModel]]]:
    """The files control watches, by the name the state and the metrics use, with the model of each."""
    return {
        STRATEGY_LIMITS: (stack.strategy_limits_file, StrategyLimitsConfig),
        ORDER_ADAPTER: (stack.order_adapter_file, OrderAdapterConfig),
        INSTRUMENTS: (stack.instruments_file, InstrumentsConfig),
    }


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Versioned(Generic[ModelT]):
    model: ModelT
    version: str
    text: str


def read_versioned(path: Path, model: type[ModelT]) -> Versioned[ModelT]:
    """Read, version and validate one file (the version is of exactly the bytes validated)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return Versioned(parse_yaml_model(text, path, model), version_of(text), text)


class ConfigVersions:
    """`config_version_info{file, version}`: 1 for the version of each file this process runs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge("config_version_info", "The version (sha256 prefix) of each config file this process runs",
                           ["file", "version"], registry=registry)
        self.running: dict[str, str] = {}

    def set(self, file: str, version: str) -> None:
        previous = self.running.get(file)
        if previous == version:
            return
        if previous is not None:
            self.gauge.remove(file, previous)
        self.gauge.labels(file, version).set(1)
        self.running[file] = version

    def report_file(self, file: str, path: Path) -> None:
        """Report the version of a file this process loaded at start and does not reload (read again: a
        file changed between the two reads shows as a mismatch in status, which is what it is)."""
        with contextlib.suppress(OSError):
            self.set(file, version_of(path.read_text(encoding="utf-8")))


def running_versions(metrics: list[list[Any]]) -> dict[str, str]:
    """A heartbeat's flat samples ([name, labels, value]) → file → version it runs (control's status)."""
    return {labels["file"]: labels["version"] for name, labels, value in metrics
            if name == "config_version_info" and value == 1}


Apply = Callable[[Any], list[str]]
"""Swaps a validated model in; returns what it could not apply without a restart (logged), if anything."""
Request = Callable[[ControlVerb, dict[str, str], Callable[[ControlReply], None]], bool]


@dataclass
class _Followed:
    model: type[pydantic.BaseModel]
    path: Path
    apply: Apply
    asked: str | None = None
    refused: str | None = None


class HotConfig:
    def __init__(self, versions: ConfigVersions, request: Request, log: structlog.stdlib.BoundLogger) -> None:
        self.versions = versions
        self._request = request
        self.log = log
        self._files: dict[str, _Followed] = {}
        self._restart_only: dict[str, str] = {}

    def follow(self, file: str, path: Path, model: type[ModelT], loaded: Versioned[ModelT],
               apply: Callable[[ModelT], list[str]]) -> None:
        """Reload `file` (loaded at start as `loaded`) whenever control's state names another version."""
        self._files[file] = _Followed(model, path, apply)
        self.versions.set(file, loaded.version)

    def report(self, file: str, path: Path) -> None:
        """A file this service loaded at start and does not reload: its version is reported, and a new one in
        control's state is logged once as needing a restart of this service."""
        self.versions.report_file(file, path)
        self._restart_only[file] = ""

    def on_state(self, state: StormGuardState) -> None:
        for file, noted in self._restart_only.items():
            wanted = state.config_versions.get(file)
            if wanted and wanted != noted and wanted != self.versions.running.get(file):
                self._restart_only[file] = wanted
                self.log.warning("config_needs_restart", file=file, version=wanted,
                                 running=self.versions.running.get(file))
        for file, followed in self._files.items():
            wanted = state.config_versions.get(file)
            if not wanted or wanted == self.versions.running.get(file) or wanted in (followed.asked,
                                                                                    followed.refused):
                continue
            followed.asked = wanted
            sent = self._request(ControlVerb.CONFIG_GET, {"file": file, "version": wanted},
                                 lambda reply, file=file, wanted=wanted: self._on_text(file, wanted, reply))
            if not sent:
                followed.asked = None  # asked again on the next state

    def _on_text(self, file: str, wanted: str, reply: ControlReply) -> None:
        followed = self._files[file]
        followed.asked = None
        if not reply.ok:
            self.log.warning("config_not_fetched", file=file, version=wanted, error=reply.error)
            return
        text = reply.body.get("text", "")
        if not isinstance(text, str) or version_of(text) != wanted:
            self._refuse(file, wanted, "the text control sent does not hash to its version")
            return
        try:
            model = parse_yaml_model(text, followed.path, followed.model)
        except ConfigError as exc:
            self._refuse(file, wanted, str(exc))
            return
        previous = self.versions.running.get(file)
        not_applied = followed.apply(model)
        self.versions.set(file, wanted)
        self.log.info("config_applied", file=file, version=wanted, previous=previous, not_applied=not_applied)

    def _refuse(self, file: str, version: str, reason: str) -> None:
        self._files[file].refused = version
        self.log.error("config_refused", file=file, version=version, running=self.versions.running.get(file),
                       reason=reason)
