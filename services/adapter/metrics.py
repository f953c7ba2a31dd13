"""The adapter's Prometheus metrics: every decision it takes on an order is counted here, and its live orders,
broker budget and circuit breaker are sampled here."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.enums import BrokerAction, ExecType

# Seconds, Prometheus's base unit: tens of µs (the adapter's own share on a quiet host) to tens of ms (a
# stalled hop), finest from 100 µs to 2 ms, where tick-to-trade sits (docs/performance.md).
LATENCY_BUCKETS_S = (1e-5, 2.5e-5, 5e-5, 7.5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4, 5e-4, 7.5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3,
                     5e-3, 7.5e-3, 1e-2, 2e-2, 5e-2, 1e-1)
BROKER_ACTIONS = tuple(BrokerAction)


class AdapterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        actions = Counter("order_actions_count", "Broker calls made", ["action"], registry=registry)
        reports = Counter("exec_reports", "Execution reports published", ["exec_type"], registry=registry)
        # Label lookups cost more than the increment itself: bind every child once.
        self.actions = {action: actions.labels(action) for action in BROKER_ACTIONS}
        self.reports = {exec_type: reports.labels(exec_type) for exec_type in ExecType}
        self.fills = Counter("fills", "Fills received from the broker", registry=registry)
        self.refused = Counter("adapter_refused", "Commands refused by the adapter", ["reason"], registry=registry)
        self.duplicate_cancels = Counter("duplicate_cancels", "Second cancels dropped", registry=registry)
        self.amend_intents = Counter("amend_commands", "AMEND commands received", registry=registry)
        self.amends_coalesced = Counter("amends_coalesced", "Amends replaced by a newer one before they were sent",
                                        registry=registry)
        self.amends_unchanged = Counter("amends_unchanged", "Amends that changed nothing and sent nothing",
                                        registry=registry)
        self.amends_superseded = Counter("amends_superseded", "Pending amends dropped by a cancel or the order's end",
                                         registry=registry)
        self.timeouts = Counter("broker_timeouts", "Broker calls unanswered by their deadline", ["call"],
                                registry=registry)
        self.retries = Counter("broker_retries", "Price amends, cancels and queries sent again after a timeout",
                               ["call"], registry=registry)
        self.broker_errors = Counter("broker_errors", "Broker calls that raised", ["error"], registry=registry)
        self.unresolved = Counter("unresolved_orders", "NEWs reported failed and tracked until the broker settled "
                                                       "them", registry=registry)
        self.late_events = Counter("late_broker_events", "Broker events for orders already closed or unknown",
                                   registry=registry)
        self.duplicate_events = Counter("duplicate_broker_events", "Deals delivered twice (same exec id), dropped",
                                        registry=registry)
        self.breaker_opened = Counter("breaker_opened", "Times the circuit breaker opened", registry=registry)
        self.cancel_all = Counter("cancel_all", "Kill-switch cancel-alls", registry=registry)
        self.gate_closed = Gauge("order_gate_closed", "1 while new orders are refused (HALT, hold fire, operator)",
                                 registry=registry)
        # Sampled from the order manager right before each heartbeat (AdapterService).
        self.live_orders = Gauge("live_orders", "Orders in the live map", registry=registry)
        self.broker_usage = Gauge("broker_usage", "Broker calls in the limiter's window", registry=registry)
        self.broker_calls_waiting = Gauge("broker_calls_waiting", "Broker calls waiting for the order budget",
                                          registry=registry)
        self.breaker_state = Gauge("breaker_state", "Circuit breaker: 0 closed, 1 half open, 2 open",
                                   registry=registry)
        self.broker_usage_peak = Gauge("broker_usage_peak", "Most broker calls seen in the limiter's window, "
                                                            "sampled each heartbeat", registry=registry)
        self.tick_to_trade = Histogram(
            "tick_to_trade_latency_seconds", "Market event ingest at the feed to the broker call",
            buckets=LATENCY_BUCKETS_S, registry=registry,
        )
        self.adapter_latency = Histogram(
            "adapter_latency_seconds", "The adapter's own share of tick-to-trade: its batch of commands read to "
                                       "the broker call", buckets=LATENCY_BUCKETS_S, registry=registry,
        )
