"""AlertRules: the plan's alert rules over what control sees, with an injected clock.

Control hears every service's counters in its heartbeats and every StormGuard transition, so the rules
run here, once for the desk:

- strategy_budget (warning): a strategy's calls over budget (strategy_budget_violations_total) rose by
  more than `budget_violations_per_min` within the last minute;
- strategy_raised (warning): a strategy call raised (strategy_alerts_total{rule="exception"} rose), so
  its runner disabled it;
- stormguard_halt (page): a scope's effective level entered HALT;
- broker_usage_warm, broker_usage_slow (warning), broker_usage_halt (page): the adapter's broker_usage
  went above StormGuard's WARM, auto-slow and HALT thresholds (150, 180, 230 calls per 10 s by default);
- config_invalid (warning): a watched config file changed and was refused (the old one stays);
- service_silent (warning): a service's heartbeats stopped without a final one;
- service_restarted (warning): a service's heartbeat came from a new process (each restart fires once);
- trading_day (warning): risk began a new trading day (its RiskSnapshot's trading_day moved on): daily PnL,
  drawdown peaks and drawdown-driven levels started fresh, positions carried over. One per day.

Each rule fires once when its condition starts to hold and again only after it stopped holding (a usage
back at or under its threshold, a minute with few violations, a HALT left, a service heard again), so
a condition that lasts is one alert, not one per heartbeat. What to do with an alert is the caller's
(`emit`): count it, log it, publish it, hand it to the sinks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contracts.enums import AlertSeverity, ServiceName, StormGuardLevel
from contracts.messages import Heartbeat
from services.control.heartbeats import ServiceRestart
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import StormGuardConfig

WINDOW_NS = 60_000_000_000


class AlertRule(StrEnum):
    STRATEGY_BUDGET = "strategy_budget"
    STRATEGY_RAISED = "strategy_raised"
    STORMGUARD_HALT = "stormguard_halt"
    BROKER_USAGE_WARM = "broker_usage_warm"
    BROKER_USAGE_SLOW = "broker_usage_slow"
    BROKER_USAGE_HALT = "broker_usage_halt"
    CONFIG_INVALID = "config_invalid"
    SERVICE_SILENT = "service_silent"
    SERVICE_RESTARTED = "service_restarted"
    TRADING_DAY = "trading_day"


@dataclass(frozen=True)
class RaisedAlert:
    rule: AlertRule
    severity: AlertSeverity
    subject: str
    summary: str
    ts_ns: int

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "subject": self.subject, "summary": self.summary,
                "ts_ns": self.ts_ns}


class CounterWindow:
    """A cumulative counter sampled now and then: how much it rose within the last window."""

    def __init__(self, window_ns: int = WINDOW_NS) -> None:
        self.window_ns = window_ns
        self._samples: deque[tuple[int, float]] = deque()

    def add(self, now_ns: int, value: float) -> float:
        """Record the counter's value; returns its rise over the window (over the history heard so far, when
        that is shorter). A value below the last one is a restarted service: its counter began again at 0."""
        if self._samples and value < self._samples[-1][1]:
            self._samples.clear()
            self._samples.append((now_ns, 0.0))
        self._samples.append((now_ns, value))
        # The first sample left is the last one at or before the window's start: the baseline.
        while len(self._samples) > 1 and self._samples[1][0] <= now_ns - self.window_ns:
            self._samples.popleft()
        return value - self._samples[0][1]


class AlertRules:
    def __init__(self, clock: Clock, stormguard: StormGuardConfig, emit: Callable[[RaisedAlert], None], *,
                 budget_violations_per_min: int = 3) -> None:
        self.clock = clock
        self.emit = emit
        self.budget_violations_per_min = budget_violations_per_min
        self.usage_thresholds: list[tuple[AlertRule, AlertSeverity, int, str]] = []
        self.set_stormguard(stormguard)
        self.active: set[tuple[AlertRule, str]] = set()
        self._budget: dict[str, CounterWindow] = {}
        self._raised: dict[str, float] = {}

    def set_stormguard(self, config: StormGuardConfig) -> None:
        """The broker-usage thresholds are StormGuard's own, so the alerts fire on what it acts on (a reload
        of strategy_limits.yaml moves both)."""
        self.usage_thresholds = [
            (AlertRule.BROKER_USAGE_WARM, AlertSeverity.WARNING, config.usage_warm_actions, "StormGuard WARM"),
            (AlertRule.BROKER_USAGE_SLOW, AlertSeverity.WARNING, config.usage_slow_actions, "order rates slowed"),
            (AlertRule.BROKER_USAGE_HALT, AlertSeverity.PAGE, config.usage_halt_actions,
             "HALT before the broker suspends the account"),
        ]

    # -- inputs

    def on_heartbeat(self, beat: Heartbeat) -> None:
        if beat.service == ServiceName.STRATEGY:
            self._strategy_counters(beat)
        elif beat.service == ServiceName.ADAPTER:
            for sample in beat.metrics:
                if sample.name == "broker_usage":
                    self._broker_usage(int(sample.value))

    def on_level(self, scope: str, to_level: StormGuardLevel, reason: str) -> None:
        """Every transition of a scope's effective level (control's authority)."""
        key = (AlertRule.STORMGUARD_HALT, scope)
        if to_level is StormGuardLevel.HALT:
            self._fire(key, AlertSeverity.PAGE, f"StormGuard HALT on {scope}: {reason}; nothing but cancels passes "
                                                f"until an operator releases it")
        else:
            self.active.discard(key)

    def on_config(self, file: str, error: str | None) -> None:
        """A watched config file was refused (`error`), or taken (None)."""
        key = (AlertRule.CONFIG_INVALID, file)
        if error is None:
            self.active.discard(key)
        else:
            self._fire(key, AlertSeverity.WARNING, f"{file} refused, the old config stays: {error}")

    def on_services(self, status: dict[str, dict[str, Any]]) -> None:
        """The heartbeat tracker's view (on a timer): a service gone silent without saying goodbye."""
        for name, entry in status.items():
            key = (AlertRule.SERVICE_SILENT, name)
            if entry["state"] == "silent":
                self._fire(key, AlertSeverity.WARNING, f"{name} (pid {entry['pid']}) has sent no heartbeat for "
                                                       f"{entry['heartbeat_age_s']:.1f}s")
            else:
                self.active.discard(key)

    def on_restart(self, restart: ServiceRestart) -> None:
        """A service came back as a new process: every restart is an alert of its own."""
        key = (AlertRule.SERVICE_RESTARTED, restart.instance)
        how = "after its final heartbeat (stopped on purpose)" if restart.said_goodbye else (
            "without a final heartbeat before (it crashed or was killed)")
        self._fire(key, AlertSeverity.WARNING, f"{restart.instance} restarted: pid {restart.old_pid} -> "
                                               f"{restart.pid} {how}; {restart.restarts} restarts since control "
                                               f"started")
        self.active.discard(key)  # an event, not a condition that holds

    def on_trading_day(self, day: str, previous: str) -> None:
        """Risk began trading day `day` after `previous` (control's last known day, persisted)."""
        self.active.discard((AlertRule.TRADING_DAY, previous))
        self._fire((AlertRule.TRADING_DAY, day), AlertSeverity.WARNING,
                   f"trading day {day} began (after {previous}): daily PnL, drawdown peaks and drawdown-driven "
                   f"StormGuard levels start fresh; positions, working orders and operator forces and hold carry over")

    # -- rules

    def _strategy_counters(self, beat: Heartbeat) -> None:
        now = self.clock.mono_ns()
        for sample in beat.metrics:
            strategy = sample.labels.get("strategy")
            if strategy is None:
                continue
            if sample.name == "strategy_budget_violations_total":
                rise = self._budget.setdefault(strategy, CounterWindow()).add(now, sample.value)
                key = (AlertRule.STRATEGY_BUDGET, strategy)
                if rise > self.budget_violations_per_min:
                    self._fire(key, AlertSeverity.WARNING, f"{strategy}: {rise:.0f} calls over its compute budget "
                                                           f"within a minute (> {self.budget_violations_per_min})")
                else:
                    self.active.discard(key)
            elif sample.name == "strategy_alerts_total" and sample.labels.get("rule") == "exception":
                before = self._raised.get(strategy)
                self._raised[strategy] = sample.value
                if before is not None and sample.value > before:
                    self.active.discard((AlertRule.STRATEGY_RAISED, strategy))
                    self._fire((AlertRule.STRATEGY_RAISED, strategy), AlertSeverity.WARNING,
                               f"{strategy} raised and was disabled by its runner (see its strategy_disabled log line)")

    def _broker_usage(self, actions: int) -> None:
        for rule, severity, threshold, effect in self.usage_thresholds:
            key = (rule, "adapter")
            if actions > threshold:
                self._fire(key, severity, f"{actions} broker calls in 10 s (> {threshold}): {effect}")
            else:
                self.active.discard(key)

    def _fire(self, key: tuple[AlertRule, str], severity: AlertSeverity, summary: str) -> None:
        if key in self.active:
            return
        self.active.add(key)
        self.emit(RaisedAlert(key[0], severity, key[1], summary, self.clock.wall_ns()))
