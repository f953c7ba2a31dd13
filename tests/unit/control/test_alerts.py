"""AlertRules on a fake clock: each of the plan's rules fires once when its condition starts, again only
after it stopped."""

from __future__ import annotations

from contracts.enums import AlertSeverity, ServiceName, StormGuardLevel
from contracts.messages import Heartbeat, MetricSample
from services.control.alerts import AlertRule, AlertRules, CounterWindow, RaisedAlert
from services.control.heartbeats import ServiceRestart
from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import StormGuardConfig

SECOND = 1_000_000_000


class Rules:
    def __init__(self, **stormguard: int) -> None:
        self.clock = FakeClock()
        self.raised: list[RaisedAlert] = []
        self.rules = AlertRules(self.clock, StormGuardConfig(**stormguard), self.raised.append)

    def violations(self, strategy: str, total: int) -> None:
        self.rules.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=1, seq=1, ts_ns=0, metrics=[
            MetricSample(name="strategy_budget_violations_total", labels={"strategy": strategy}, value=total)]))

    def usage(self, actions: int) -> None:
        self.rules.on_heartbeat(Heartbeat(service=ServiceName.ADAPTER, pid=2, seq=1, ts_ns=0, metrics=[
            MetricSample(name="broker_usage", value=actions)]))

    def rules_raised(self) -> list[tuple[str, str]]:
        return [(alert.rule, alert.subject) for alert in self.raised]


def test_budget_violations_alert_past_three_within_a_minute() -> None:
    r = Rules()
    r.violations("mm1", 0)
    for total in (1, 2, 3):
        r.clock.advance(10 * SECOND)
        r.violations("mm1", total)
    assert r.raised == [], "three in a minute is the limit, not over it"
    r.clock.advance(10 * SECOND)
    r.violations("mm1", 4)
    assert r.rules_raised() == [(AlertRule.STRATEGY_BUDGET, "mm1")]
    assert r.raised[0].severity is AlertSeverity.WARNING and "4 calls over its compute budget" in r.raised[0].summary
    r.clock.advance(SECOND)
    r.violations("mm1", 5)
    assert len(r.raised) == 1, "one alert while it lasts"


def test_violations_spread_over_more_than_a_minute_do_not_alert_and_the_rule_rearms() -> None:
    r = Rules()
    r.violations("mm1", 0)
    for total in range(1, 9):
        r.clock.advance(20 * SECOND)
        r.violations("mm1", total)
    assert r.raised == [], "one every 20 s is three a minute"
    for total in range(9, 14):
        r.clock.advance(SECOND)
        r.violations("mm1", total)
    assert len(r.raised) == 1
    r.clock.advance(61 * SECOND)
    r.violations("mm1", 13)
    for total in range(14, 19):
        r.clock.advance(SECOND)
        r.violations("mm1", total)
    assert len(r.raised) == 2, "a quiet minute re-arms the rule"


def test_a_restarted_runner_counts_from_zero() -> None:
    window = CounterWindow()
    assert window.add(0, 100) == 0, "control joined late: the history before it is not a rise"
    assert window.add(SECOND, 2) == 2, "a lower value is a new process counting from 0"


def test_broker_usage_thresholds_are_stormguards_and_each_fires_once() -> None:
    r = Rules()
    r.usage(150)
    assert r.raised == []
    r.usage(151)
    r.usage(181)
    r.usage(231)
    assert r.rules_raised() == [(AlertRule.BROKER_USAGE_WARM, "adapter"), (AlertRule.BROKER_USAGE_SLOW, "adapter"),
                                (AlertRule.BROKER_USAGE_HALT, "adapter")]
    assert [a.severity for a in r.raised] == [AlertSeverity.WARNING, AlertSeverity.WARNING, AlertSeverity.PAGE]
    r.usage(240)
    assert len(r.raised) == 3
    r.usage(200)
    r.usage(235)
    assert r.rules_raised()[-1] == (AlertRule.BROKER_USAGE_HALT, "adapter") and len(r.raised) == 4, \
        "back under 230 re-arms HALT only"


def test_usage_thresholds_follow_the_config() -> None:
    r = Rules(usage_warm_actions=50, usage_slow_actions=60, usage_halt_actions=70)
    r.usage(55)
    assert r.rules_raised() == [(AlertRule.BROKER_USAGE_WARM, "adapter")]
    r.rules.set_stormguard(StormGuardConfig())
    r.usage(100)
    assert len(r.raised) == 1, "the reloaded thresholds are higher"


def test_halt_pages_on_every_entry() -> None:
    r = Rules()
    r.rules.on_level("mm1", StormGuardLevel.STORM, "drawdown")
    assert r.raised == []
    r.rules.on_level("mm1", StormGuardLevel.HALT, "drawdown 1.5% >= 1.5%")
    assert r.raised[0].severity is AlertSeverity.PAGE and "drawdown 1.5%" in r.raised[0].summary
    r.rules.on_level("mm1", StormGuardLevel.STORM, "operator release")
    r.rules.on_level("mm1", StormGuardLevel.HALT, "again")
    assert r.rules_raised() == [(AlertRule.STORMGUARD_HALT, "mm1")] * 2


def test_a_raising_strategy_and_a_silent_service_and_a_refused_config() -> None:
    r = Rules()
    raised = [MetricSample(name="strategy_alerts_total", labels={"strategy": "mo1", "rule": "exception"}, value=0)]
    r.rules.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=1, seq=1, ts_ns=0, metrics=raised))
    raised[0].value = 1
    r.rules.on_heartbeat(Heartbeat(service=ServiceName.STRATEGY, pid=1, seq=2, ts_ns=0, metrics=raised))
    r.rules.on_services({"risk": {"state": "silent", "pid": 7, "heartbeat_age_s": 4.2},
                         "feed": {"state": "stopped", "pid": 8, "heartbeat_age_s": 9.0}})
    r.rules.on_services({"risk": {"state": "silent", "pid": 7, "heartbeat_age_s": 5.2}})
    r.rules.on_config("strategy_limits", "strategies.0.budget_us: must be > 0 (got -1)")
    assert r.rules_raised() == [(AlertRule.STRATEGY_RAISED, "mo1"), (AlertRule.SERVICE_SILENT, "risk"),
                                (AlertRule.CONFIG_INVALID, "strategy_limits")]
    assert "budget_us" in r.raised[-1].summary


def test_every_restart_is_an_alert_of_its_own_saying_whether_it_crashed() -> None:
    r = Rules()
    r.rules.on_restart(ServiceRestart("adapter", 10, 11, said_goodbye=False, restarts=1, wall_ns=0))
    r.rules.on_restart(ServiceRestart("adapter", 11, 12, said_goodbye=True, restarts=2, wall_ns=0))
    assert r.rules_raised() == [(AlertRule.SERVICE_RESTARTED, "adapter")] * 2
    first, second = r.raised
    assert first.severity is AlertSeverity.WARNING
    assert "pid 10 -> 11" in first.summary and "crashed or was killed" in first.summary
    assert "stopped on purpose" in second.summary and "2 restarts" in second.summary


def test_a_new_trading_day_alerts_once_per_day() -> None:
    r = Rules()
    r.rules.on_trading_day("2026-12-08", "2026-12-07")
    r.rules.on_trading_day("2026-12-08", "2026-12-07")
    r.rules.on_trading_day("2026-12-09", "2026-12-08")
    assert r.rules_raised() == [(AlertRule.TRADING_DAY, "2026-12-08"), (AlertRule.TRADING_DAY, "2026-12-09")]
    assert r.raised[0].severity is AlertSeverity.WARNING and "drawdown peaks" in r.raised[0].summary
    assert r.rules.active == {(AlertRule.TRADING_DAY, "2026-12-09")}, "yesterday's is forgotten"
