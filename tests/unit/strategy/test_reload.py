"""A reloaded strategy_limits.yaml in a running runner: budgets, TTLs and enabled at once; the rest named."""

from __future__ import annotations

import structlog
from prometheus_client import CollectorRegistry

from services.runtime.clock import FakeClock
from services.runtime.config.strategy_limits import StrategyEntry
from services.strategy.loader import load_strategy
from services.strategy.reload import apply_entries
from services.strategy.runner import RunnerMetrics, StrategyRunner

QUOTER = "services.strategy.strategies.quoter:Quoter"


def entry(sid: str, **fields: object) -> StrategyEntry:
    return StrategyEntry.model_validate({"id": sid, "class": QUOTER, "symbols": ["2330"], **fields})


def runner_with(*entries: StrategyEntry) -> StrategyRunner:
    runner = StrategyRunner(FakeClock(), RunnerMetrics(CollectorRegistry()), structlog.get_logger(), epoch="e")
    for e in entries:
        runner.add(load_strategy(e), budget_us=e.budget_us, intent_ttl_ms=e.intent_ttl_ms, enabled=e.enabled,
                   disable_on_budget=e.disable_on_budget_violations)
    return runner


def test_budgets_ttls_and_enabled_apply_at_once() -> None:
    old = [entry("mm1"), entry("mm2")]
    runner = runner_with(*old)
    current = {e.id: e for e in old}
    new = [entry("mm1", budget_us=900, intent_ttl_ms=250, disable_on_budget_violations=True),
           entry("mm2", enabled=False)]
    assert apply_entries(runner, current, new, operator_enabled={}) == []
    assert runner.hosted["mm1"].budget_ns == 900_000 and runner.hosted["mm1"].ttl_ns == 250_000_000
    assert runner.hosted["mm1"].disable_on_budget and not runner.hosted["mm2"].enabled
    assert current["mm1"].budget_us == 900


def test_the_operators_switch_outranks_the_files_enabled() -> None:
    old = [entry("mm1")]
    runner = runner_with(*old)
    runner.set_enabled("mm1", False)
    apply_entries(runner, {"mm1": old[0]}, [entry("mm1", enabled=False)], operator_enabled={"mm1": False})
    apply_entries(runner, {"mm1": entry("mm1", enabled=False)}, [entry("mm1", enabled=True)],
                  operator_enabled={"mm1": False})
    assert not runner.hosted["mm1"].enabled


def test_what_needs_a_restart_is_named_and_kept_as_it_was() -> None:
    old = [entry("mm1"), entry("mm2")]
    runner = runner_with(*old)
    current = {e.id: e for e in old}
    notes = apply_entries(runner, current, [entry("mm1", params={"qty": 3}, budget_us=700), entry("mo1")],
                          operator_enabled={})
    assert notes == ["mm1: params changed: restart the runner to apply",
                     "mm2 is no longer in the file: restart the runner to drop it",
                     "mo1 is new: restart the runner to host it"]
    assert current["mm1"].params == {} and current["mm1"].budget_us == 700
