"""ConfigReloader: control's side of config hot reload.

Each poll of the ConfigWatcher (a timer, or `orderpath ctl config reload`) ends here: a file taken is
applied to control itself, its version goes into control's state (so the services that reload it fetch
the text with "config_get", and a late joiner learns it from the snapshot), and it is logged; a file
refused keeps the old version and raises the config_invalid alert, with the reason (file, field, value)
in the log and in `config reload`'s answer.

Which services apply what: strategy_limits.yaml live, in control (scopes, strategy ids, usage alert
thresholds), risk (limits, StormGuard thresholds and capital) and the strategy runner (budgets, TTLs,
enabled); order_adapter.yaml and instruments.yaml are validated and versioned here, and take effect when
the services that read them restart. `ctl status` shows the version each service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from contracts.messages import ControlReply, ControlRequest
from services.control.alerts import AlertRules
from services.control.authority import StormGuardAuthority
from services.control.config_watch import ConfigWatcher, Outcome
from services.runtime.hot_config import INSTRUMENTS, ORDER_ADAPTER, STRATEGY_LIMITS, ConfigVersions, running_versions

LIVE = {STRATEGY_LIMITS: ("control", "risk", "strategy")}
AT_RESTART = {ORDER_ADAPTER: ("adapter",), INSTRUMENTS: ("feed", "risk", "adapter")}


class ConfigReloader:
    def __init__(self, watcher: ConfigWatcher, authority: StormGuardAuthority, rules: AlertRules,
                 versions: ConfigVersions, log: structlog.stdlib.BoundLogger, *,
                 apply: dict[str, Callable[[Any], None]], state_changed: Callable[[], None]) -> None:
        self.watcher = watcher
        self.authority = authority
        self.rules = rules
        self.versions = versions
        self.log = log
        self._apply = apply
        self._state_changed = state_changed

    def start(self, outcomes: list[Outcome]) -> None:
        """The first read of every file (control's own start): versions into the state, refusals alerted."""
        for outcome in outcomes:
            if outcome.version is not None:
                self.versions.set(outcome.file, outcome.version)
                self.authority.set_config_version(outcome.file, outcome.version)
        self._report(outcomes, source="start")

    def poll(self, *, force: bool = False, source: str = "poll") -> list[Outcome]:
        outcomes = self.watcher.poll(force=force)
        if self._report(outcomes, source=source):
            self._state_changed()
        return outcomes

    def _report(self, outcomes: list[Outcome], *, source: str) -> bool:
        changed = False
        for outcome in outcomes:
            if outcome.error is not None:
                self.log.error("config_refused", file=outcome.file, running=outcome.version, reason=outcome.error,
                               source=source)
                self.rules.on_config(outcome.file, outcome.error)
                continue
            self.rules.on_config(outcome.file, None)
            if not outcome.changed or source == "start":
                continue
            current = self.watcher.current(outcome.file)
            assert current is not None
            apply = self._apply.get(outcome.file)
            if apply is not None:
                apply(current.model)
            self.versions.set(outcome.file, current.version)
            changed |= self.authority.set_config_version(outcome.file, current.version)
            self.log.warning("config_reloaded", file=outcome.file, version=current.version, previous=outcome.previous,
                             source=source, live_in=LIVE.get(outcome.file, ("control",)),
                             at_restart_of=AT_RESTART.get(outcome.file, ()))
        return changed

    # -- ops verbs

    def config_get(self, request: ControlRequest, key: str) -> ControlReply:
        """A service fetching the text of the version control's state names."""
        file, version = request.args.get("file", ""), request.args.get("version", "")
        text = self.watcher.text(file, version)
        if text is None:
            current = self.watcher.versions().get(file)
            return ControlReply(request_id=request.request_id, ok=False,
                                error=f"{file}: version {version!r} is not the current one ({current})")
        return ControlReply(request_id=request.request_id, ok=True, body={"file": file, "version": version,
                                                                          "text": text})

    def config_reload(self, request: ControlRequest, key: str) -> ControlReply:
        """`ctl config reload`: read every file now; the answer says, per file, what was taken or why not."""
        outcomes = self.poll(force=True, source=f"operator {request.who or key}")
        files = {o.file: {"version": o.version, "changed": o.changed, "previous": o.previous, "error": o.error,
                          "live_in": list(LIVE.get(o.file, ())), "at_restart_of": list(AT_RESTART.get(o.file, ()))}
                 for o in outcomes}
        refused = [f"{o.file}: {o.error} (version {o.version} stays)" for o in outcomes if o.error]
        return ControlReply(request_id=request.request_id, ok=not refused, error="\n".join(refused),
                            body={"files": files})

    def status(self, services: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Per file: control's current version, why the file on disk is refused (if it is), and the version
        each service reports running."""
        running = {name: running_versions(entry["metrics"]) for name, entry in services.items()}
        errors = self.watcher.errors()
        return {
            file: {"version": version, "error": errors.get(file),
                   "services": {name: files[file] for name, files in running.items() if file in files}}
            for file, version in {**dict.fromkeys(errors), **self.watcher.versions()}.items()
        }

