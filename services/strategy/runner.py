"""StrategyRunner: hands each market event to the strategies that trade its symbol, times every
call, isolates failures, and keeps each strategy's positions and open orders from the reports.

Plain synchronous code with an injected clock; services/strategy/service.py wires it to sockets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts.enums import (
    TERMINAL_STATUSES,
    ExecType,
    IntentAction,
    Reason,
    Side,
    StormGuardLevel,
)
from contracts.messages import (
    AdapterUsage,
    ExecutionReport,
    MarketEvent,
    OrderIntent,
    RiskDecision,
    StormGuardState,
)
from services.runtime.clock import Clock
from services.runtime.metrics import Tally
from services.strategy.api import OpenOrder, Strategy, StrategyContext, StrategyState
from services.strategy.budget import BudgetWatch

# Seconds, Prometheus's base unit: from a few µs (a quoter's call) through the budgets (budget_us, hundreds
# of µs) to the tens of ms of a call that stalls.
LATENCY_BUCKETS_S = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2)


@dataclass
class HostedStrategy:
    strategy: Strategy
    budget_ns: int
    ttl_ns: int
    latency: Histogram
    budget_violations: Counter
    intents: dict[IntentAction, Counter]
    budget_watch: BudgetWatch
    disable_on_budget: bool = False
    enabled: bool = True
    started: bool = False


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "strategy_latency_seconds", "Wall time of one strategy call", ["strategy"],
            buckets=LATENCY_BUCKETS_S, registry=registry,
        )
        self.intents = Counter("intents", "Intents emitted", ["strategy", "action"], registry=registry)
        self.budget_violations = Counter(
            "strategy_budget_violations", "Calls over the strategy's compute budget", ["strategy"],
            registry=registry,
        )
        self.errors = Counter("strategy_errors", "Strategy calls that raised", ["strategy"], registry=registry)
        self.dropped = Counter(
            "intents_dropped", "Intents not sent", ["strategy", "reason"], registry=registry
        )
        self.md_events = Tally("strategy_md_events", "Market events handled", registry)
        self.alerts = Counter("strategy_alerts", "Alerts raised about a strategy", ["strategy", "rule"],
                              registry=registry)


class StrategyRunner:
    def __init__(
        self,
        clock: Clock,
        metrics: RunnerMetrics,
        log: structlog.stdlib.BoundLogger,
        epoch: str,
    ) -> None:
        self.clock = clock
        self.metrics = metrics
        self.log = log
        self.epoch = epoch
        self.hosted: dict[str, HostedStrategy] = {}
        self.states: dict[str, StrategyState] = {}
        self._by_symbol: dict[str, list[str]] = {}
        self.global_level = StormGuardLevel.NORMAL
        self.strategy_levels: dict[str, StormGuardLevel] = {}
        self.broker_usage_pct = 0.0

    def add(self, strategy: Strategy, *, budget_us: int, intent_ttl_ms: int, enabled: bool,
            disable_on_budget: bool = False) -> None:
        sid = strategy.strategy_id
        self.hosted[sid] = HostedStrategy(
            strategy, budget_us * 1000, intent_ttl_ms * 1_000_000,
            latency=self.metrics.latency.labels(sid),
            budget_violations=self.metrics.budget_violations.labels(sid),
            intents={action: self.metrics.intents.labels(sid, action) for action in IntentAction},
            budget_watch=BudgetWatch(self.clock),
            disable_on_budget=disable_on_budget,
            enabled=enabled,
        )
        self.states[sid] = StrategyState()
        for symbol in strategy.symbols:
            self._by_symbol.setdefault(symbol, []).append(sid)

    @property
    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)

    def _context(self, sid: str, event: MarketEvent | None) -> StrategyContext:
        level = self.strategy_levels.get(sid, StormGuardLevel.NORMAL)
        if self.global_level.severity > level.severity:
            level = self.global_level
        return StrategyContext(sid, self.epoch, self.states[sid], self.clock, self.hosted[sid].ttl_ns, level,
                               event, self.broker_usage_pct, self.global_level)

    def _call(self, sid: str, method: str, event: MarketEvent | None, *args: object) -> list[OrderIntent]:
        """Run one strategy callback, timed and isolated; returns the intents it asked for."""
        hosted = self.hosted[sid]
        ctx = self._context(sid, event)
        started = time.perf_counter_ns()
        error: Exception | None = None
        try:
            if not hosted.started:
                hosted.started = True
                hosted.strategy.on_start(ctx)
            getattr(hosted.strategy, method)(ctx, *args)
        except Exception as exc:
            error = exc
        # Timed before any of the runner's own work (the traceback log alone can exceed a budget).
        elapsed = time.perf_counter_ns() - started
        hosted.latency.observe(elapsed / 1e9)
        if elapsed > hosted.budget_ns:
            self._over_budget(sid, hosted, elapsed)
        if error is not None:
            for intent in ctx.intents:
                self.states[sid].withdraw(intent.action, intent.client_order_id)
            hosted.enabled = False
            self.metrics.errors.labels(sid).inc()
            self.metrics.alerts.labels(sid, "exception").inc()
            self.log.error("strategy_disabled", strategy_id=sid, reason="exception", callback=method,
                           intent_id=None, stormguard_state=ctx.stormguard, exc_info=error)
            return []
        for intent in ctx.intents:
            hosted.intents[intent.action].inc()
        return ctx.intents

    def _over_budget(self, sid: str, hosted: HostedStrategy, elapsed_ns: int) -> None:
        hosted.budget_violations.inc()
        if not hosted.budget_watch.violated():
            return
        self.metrics.alerts.labels(sid, "budget").inc()
        self.log.error("strategy_alert", strategy_id=sid, reason="budget",
                       rule="more than 3 budget violations a minute", elapsed_us=elapsed_ns // 1000,
                       budget_us=hosted.budget_ns // 1000, disabling=hosted.disable_on_budget, intent_id=None,
                       stormguard_state=self.global_level)
        if hosted.disable_on_budget:
            hosted.enabled = False

    def on_market(self, event: MarketEvent) -> list[OrderIntent]:
        self.metrics.md_events.value += 1
        intents: list[OrderIntent] = []
        for sid in self._by_symbol.get(event.symbol, ()):
            if self.hosted[sid].enabled:
                intents.extend(self._call(sid, "on_book", event, event))
        return intents

    def on_execution(self, report: ExecutionReport, *, history: bool = False) -> list[OrderIntent]:
        """Apply a report to the strategy's positions and open orders, then let it react to a fill.
        `history`: a report from before this runner started (replayed at start): applied, but the strategy
        does not react. A live order this runner does not know is one a runner before it sent (its first
        answer came after the restart, or the journal's history of it was pruned): taken into the open
        orders like one from history, so the strategy sees, amends and cancels every order it has at the broker."""
        state = self.states.get(report.strategy_id)
        if state is None:
            return []
        order = state.open_orders.get(report.client_order_id)
        if order is None and report.status not in TERMINAL_STATUSES and report.leaves_qty > 0:
            order = OpenOrder(client_order_id=report.client_order_id, symbol=report.symbol, side=report.side,
                              qty=report.qty, price_e4=report.price_e4, leaves_qty=report.leaves_qty)
            state.open_orders[report.client_order_id] = order
        if order is not None:
            order.status = report.status
            order.leaves_qty = report.leaves_qty
            if report.exec_type in (ExecType.AMENDED, ExecType.AMEND_REJECT):
                order.amend_pending = False
                if report.exec_type is ExecType.AMENDED:
                    order.price_e4 = report.price_e4
            elif report.exec_type is ExecType.CANCEL_REJECT:
                order.cancel_pending = False
            if report.status in TERMINAL_STATUSES:
                del state.open_orders[report.client_order_id]
        if report.exec_type is not ExecType.FILL:
            return []
        signed = report.last_qty if report.side is Side.BUY else -report.last_qty
        state.positions[report.symbol] = state.positions.get(report.symbol, 0) + signed
        state.recent_fills.append(report)
        if history or not self.hosted[report.strategy_id].enabled:
            return []
        return self._call(report.strategy_id, "on_fill", None, report)

    def on_reject(self, decision: RiskDecision) -> list[OrderIntent]:
        state = self.states.get(decision.strategy_id)
        if state is None:
            return []
        state.withdraw(decision.action, decision.client_order_id)
        if not self.hosted[decision.strategy_id].enabled:
            return []
        return self._call(decision.strategy_id, "on_reject", None, decision)

    def dropped(self, intent: OrderIntent, reason: Reason) -> RiskDecision:
        """Record an intent that never left this process, as a reject the strategy will be told of."""
        self.metrics.dropped.labels(intent.strategy_id, reason).inc()
        state = self.states.get(intent.strategy_id)
        if state is not None:
            state.throttled = True
        return RiskDecision(
            seq=0, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
            client_order_id=intent.client_order_id, action=intent.action, approved=False, reason=reason,
            detail="intents queue full", ts_ns=self.clock.wall_ns(),
        )

    def sent(self, intent: OrderIntent) -> None:
        """An intent got onto the socket: its strategy is not throttled any more."""
        state = self.states.get(intent.strategy_id)
        if state is not None and state.throttled:
            state.throttled = False

    def on_usage(self, usage: AdapterUsage) -> None:
        self.broker_usage_pct = 100.0 * usage.actions_in_window / usage.soft_cap if usage.soft_cap else 0.0

    def on_stormguard(self, state: StormGuardState) -> None:
        self.global_level = state.global_level
        self.strategy_levels = dict(state.strategy_levels)

    def set_enabled(self, strategy_id: str, enabled: bool) -> None:
        self.hosted[strategy_id].enabled = enabled

    def open_order_count(self) -> int:
        return sum(len(state.open_orders) for state in self.states.values())

