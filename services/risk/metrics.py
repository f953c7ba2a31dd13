"""Risk's Prometheus metrics: its decisions on intents, the reports and references it applied, StormGuard."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

UNKNOWN_STRATEGY = "unknown"


class RiskMetrics:
    def __init__(self, registry: CollectorRegistry, strategy_ids: Iterable[str]) -> None:
        self._approved = Counter("risk_approved", "Intents approved", ["strategy"], registry=registry)
        # Label lookups cost more than the increment itself: bind each configured strategy's child once.
        self._approved_by_strategy: dict[str, Counter] = {}
        self._approved_unknown = self._approved.labels(UNKNOWN_STRATEGY)
        self.add_strategies(strategy_ids)
        self._rejected = Counter("risk_reject", "Intents rejected", ["strategy", "reason"], registry=registry)
        self.exec_reports = Counter("risk_exec_reports", "Execution reports seen", registry=registry)
        self.stormguard_state = Gauge("stormguard_state", "Risk's own StormGuard level (0 NORMAL .. 3 HALT)",
                                      ["scope"], registry=registry)
        self.transitions = Counter("stormguard_transitions", "StormGuard transitions", ["scope", "to"],
                                   registry=registry)
        self.halt_cancels = Counter("halt_cancels", "Cancels sent because a scope entered HALT", registry=registry)
        self.instrument_refs = Counter("instrument_refs", "Broker reference data received for a symbol",
                                       ["outcome"], registry=registry)

    def add_strategies(self, strategy_ids: Iterable[str]) -> None:
        """Count these strategies under their own label from now on (a label is never dropped)."""
        for strategy_id in strategy_ids:
            if strategy_id not in self._approved_by_strategy:
                self._approved_by_strategy[strategy_id] = self._approved.labels(strategy_id)

    def approved(self, strategy_id: str) -> Counter:
        """The approval counter of `strategy_id`; one label for every strategy never configured, since cancels
        pass for any strategy id and the wire must not grow the label set."""
        return self._approved_by_strategy.get(strategy_id, self._approved_unknown)

    def reject(self, strategy_id: str, reason: str) -> None:
        label = strategy_id if strategy_id in self._approved_by_strategy else UNKNOWN_STRATEGY
        self._rejected.labels(label, reason).inc()
