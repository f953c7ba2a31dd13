"""What a desk watches, checked on a running stack: every service's /metrics parsed by Prometheus's own
parsers, the plan's metrics there under the names, types and labels the dashboard and alerts use, and
every log line structlog JSON, with intent_id, strategy_id, reason and stormguard_state on the lines
that record a decision.

The plan (../shared/DESIGN.md, Observability) names strategy_latency_seconds, intents_total,
risk_reject_total{reason}, stormguard_state, order_actions_total, tick_to_trade_latency_seconds and
bad_messages_total; issue 8 adds broker usage and the breaker's state. Where the code's name differs
from the plan's, the table below holds the code's name and says so: a rename would break the
dashboard, the alerts and the runbook.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import zmq
from prometheus_client.metrics_core import Metric

from contracts.codec import encode
from contracts.enums import IntentAction, Reason, ServiceName, Side, StormGuardLevel
from contracts.messages import OrderCommand, OrderIntent
from services.adapter.metrics import BROKER_ACTIONS
from services.launcher import LocalStack
from tests.e2e.scrape import families, openmetrics_families, scrape, value, wait_for
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e

SERVICES = tuple(str(name) for name in ServiceName)
SCOPES = {"global", QUOTER["id"]}
REASONS = {str(reason) for reason in Reason}
LEVELS = {str(level) for level in StormGuardLevel}
LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}
# Injected by the test: an intent of a strategy risk does not know, a cancel of an order the adapter never had.
STRANGER = "obs1"
REJECTED_INTENT = f"{STRANGER}.test.1"
UNKNOWN_ORDER = f"{STRANGER}.test.404"

# service -> family -> (type, label names of its samples, the sample names a query uses).
# Plan names that differ: order_actions_total is the counter order_actions_count, so its series is
# order_actions_count_total; risk_reject_total also carries `strategy`; broker usage is `broker_usage`
# and the breaker `breaker_state` (0 closed, 1 half open, 2 open); stormguard_state holds the level's
# severity. Latencies are histograms in seconds (tick_to_trade_latency_seconds, and the adapter's own
# share adapter_latency_seconds); no percentile gauges: readers take quantiles from the buckets.
BAD_MESSAGES = ("counter", {"service", "socket"}, {"bad_messages_total"})
PLAN: dict[str, dict[str, tuple[str, set[str], set[str]]]] = {
    "feed": {
        # the feed decodes nothing (its md XPUB reads subscriptions only): the family, without series
        "bad_messages": ("counter", {"service", "socket"}, set()),
        "md_events": ("counter", {"symbol"}, {"md_events_total"}),
    },
    "strategy": {
        "bad_messages": BAD_MESSAGES,
        "strategy_latency_seconds": ("histogram", {"strategy"}, {"strategy_latency_seconds_bucket",
                                                                 "strategy_latency_seconds_count",
                                                                 "strategy_latency_seconds_sum"}),
        "intents": ("counter", {"strategy", "action"}, {"intents_total"}),
        "strategy_budget_violations": ("counter", {"strategy"}, {"strategy_budget_violations_total"}),
    },
    "risk": {
        "bad_messages": BAD_MESSAGES,
        "risk_reject": ("counter", {"strategy", "reason"}, {"risk_reject_total"}),
        "risk_approved": ("counter", {"strategy"}, {"risk_approved_total"}),
        "stormguard_state": ("gauge", {"scope"}, {"stormguard_state"}),
        "stormguard_transitions": ("counter", {"scope", "to"}, {"stormguard_transitions_total"}),
        "peer_connected": ("gauge", {"socket"}, {"peer_connected"}),
    },
    "adapter": {
        "bad_messages": BAD_MESSAGES,
        "order_actions_count": ("counter", {"action"}, {"order_actions_count_total"}),
        "tick_to_trade_latency_seconds": ("histogram", set(), {"tick_to_trade_latency_seconds_bucket",
                                                              "tick_to_trade_latency_seconds_count",
                                                              "tick_to_trade_latency_seconds_sum"}),
        "adapter_latency_seconds": ("histogram", set(), {"adapter_latency_seconds_bucket",
                                                        "adapter_latency_seconds_count",
                                                        "adapter_latency_seconds_sum"}),
        "broker_usage": ("gauge", set(), {"broker_usage"}),
        "broker_calls_waiting": ("gauge", set(), {"broker_calls_waiting"}),
        "breaker_state": ("gauge", set(), {"breaker_state"}),
        "order_gate_closed": ("gauge", set(), {"order_gate_closed"}),
        "fills": ("counter", set(), {"fills_total"}),
        "adapter_refused": ("counter", {"reason"}, {"adapter_refused_total"}),
        "exec_reports": ("counter", {"exec_type"}, {"exec_reports_total"}),
        "peer_connected": ("gauge", set(), set()),  # no order socket of its own: family without samples
    },
    "control": {
        "bad_messages": BAD_MESSAGES,
    },
}
# The sockets each service binds for others to send into: their bad frames must be countable.
BOUND_INPUTS = {"risk": {"intents"}, "adapter": {"orders", "exec_replay"}, "control": {"ops"}}

# (service, event) -> fields that must be set, fields that must at least be there (None where they do not apply).
ALL4 = {"intent_id", "strategy_id", "reason", "stormguard_state"}
DECISIONS: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("risk", "intent_rejected"): (ALL4, set()),
    ("risk", "intent_approved"): ({"intent_id", "strategy_id", "stormguard_state"}, {"reason"}),
    ("risk", "stormguard_transition"): ({"scope", "strategy_id", "reason", "stormguard_state"}, {"intent_id"}),
    ("risk", "halt_cancel_all"): ({"scope", "reason", "stormguard_state"}, set()),
    ("risk", "strategy_toggled"): ({"strategy_id", "reason", "stormguard_state"}, {"intent_id"}),
    ("risk", "stormguard_release"): ({"scope", "strategy_id", "reason"}, {"intent_id", "stormguard_state"}),
    # control's transition line names the scope, not a strategy_id (nor an intent_id)
    ("control", "stormguard_transition"): ({"scope", "reason", "stormguard_state"}, set()),
    ("adapter", "broker_call_failed"): (ALL4, set()),
    ("adapter", "broker_timeout"): (ALL4, set()),
    ("adapter", "order_not_at_broker"): (ALL4, set()),
    ("adapter", "cancel_all"): ({"reason", "stormguard_state"}, set()),
    ("adapter", "gate_closed"): ({"reason", "stormguard_state"}, set()),
    ("adapter", "gate_opened"): ({"reason", "stormguard_state"}, set()),
    ("adapter", "circuit_breaker_open"): ({"reason", "stormguard_state"}, set()),
    ("strategy", "intent_dropped"): (ALL4, set()),
    ("strategy", "strategy_alert"): ({"strategy_id", "reason", "stormguard_state"}, {"intent_id"}),
    ("strategy", "strategy_disabled"): ({"strategy_id", "reason"}, {"intent_id", "stormguard_state"}),
}
# Execution reports the adapter logs (those with a reason, and fills): `order_<exec_type>`.
ORDER_REPORT_EVENTS = {f"order_{t}" for t in ("ack", "reject", "fill", "amended", "amend_reject", "cancelled",
                                              "expired", "cancel_reject")}


@dataclass
class Observed:
    text: dict[str, str]
    openmetrics: dict[str, str]
    logs: dict[str, list[str]]
    exit_codes: dict[str, int | None]


def _stranger_intent() -> OrderIntent:
    now = time.monotonic_ns()
    return OrderIntent(intent_id=REJECTED_INTENT, strategy_id=STRANGER, seq=1, action=IntentAction.NEW,
                       client_order_id=REJECTED_INTENT, symbol="2330", side=Side.BUY, qty=1, price_e4=5_000_000,
                       created_ts_ns=time.time_ns(), ingest_ts_ns=now, deadline_ns=now + 30_000_000_000)


def _cancel_of_unknown_order() -> OrderCommand:
    now = time.monotonic_ns()
    return OrderCommand(intent_id=f"{STRANGER}.test.2", strategy_id=STRANGER, action=IntentAction.CANCEL,
                        client_order_id=UNKNOWN_ORDER, symbol="2330", side=Side.BUY, qty=1, price_e4=5_000_000,
                        ingest_ts_ns=now, approved_mono_ns=now, deadline_ns=now + 30_000_000_000)


def _everything_observed(ports: dict[str, int]) -> dict[str, Any] | None:
    fams = {name: families(scrape(port)) for name, port in ports.items()}
    risk, adapter, strategy = fams["risk"], fams["adapter"], fams["strategy"]
    wanted = {
        "bad intent counted": value(risk, "bad_messages_total", service="risk", socket="intents") >= 1,
        "stranger's intent rejected": value(risk, "risk_reject_total", strategy="unknown",
                                            reason=Reason.STRATEGY_DISABLED) >= 1,
        "a StormGuard transition": value(risk, "stormguard_transitions_total") >= 1,
        "cancel of an unknown order refused": value(adapter, "adapter_refused_total",
                                                    reason=Reason.UNKNOWN_ORDER) >= 1,
        "fills": value(adapter, "fills_total") >= 1,
        "tick-to-trade measured": value(adapter, "tick_to_trade_latency_seconds_count") >= 1,
        "strategy calls timed": value(strategy, "strategy_latency_seconds_count") >= 1,
        "intents sent": value(strategy, "intents_total") >= 1,
    }
    missing = [what for what, ok in wanted.items() if not ok]
    return None if missing else fams


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """A short real stack with metrics served: a stranger's intent into risk, a cancel of an unknown order
    into the adapter and one undecodable frame, StormGuard made to move early (global WARM above 3 broker
    actions in 10 s); scraped once all of that shows, then stopped so the logs are complete."""
    folder = tmp_path_factory.mktemp("observability")
    stack_file = write_stack_config(
        folder, strategies=[QUOTER], metrics=True,
        risk={"stormguard": {"usage_warm_actions": 3, "usage_slow_actions": 4, "usage_halt_actions": 10_000}},
    )
    stack = LocalStack(stack_file)
    ports = {name: stack.config.metrics_ports[name] for name in SERVICES}
    stack.start()
    context = zmq.Context()
    try:
        intents = context.socket(zmq.PUSH)
        intents.connect(stack.config.endpoints.intents)
        intents.send_multipart((b"intent", b"\xc1 not msgpack"))
        intents.send_multipart((b"intent", encode(_stranger_intent())))
        orders = context.socket(zmq.PUSH)
        orders.connect(stack.config.endpoints.orders)
        orders.send_multipart((b"order", encode(_cancel_of_unknown_order())))
        wait_for("every metric this test reads has a sample", lambda: _everything_observed(ports))
        text = {name: scrape(port) for name, port in ports.items()}
        openmetrics = {name: scrape(port, openmetrics=True) for name, port in ports.items()}
    finally:
        context.destroy(linger=0)
        codes = stack.stop()
    logs = {name: (stack.log_dir / f"{name}.log").read_text(encoding="utf-8").splitlines() for name in SERVICES}
    yield Observed(text, openmetrics, logs, {str(k): v for k, v in codes.items()})


def test_every_service_serves_metrics_both_prometheus_parsers_accept(observed: Observed) -> None:
    for name in SERVICES:
        classic = families(observed.text[name])
        strict = openmetrics_families(observed.openmetrics[name])
        assert classic and strict, f"{name}: empty scrape"
        for family in strict.values():
            if family.type == "histogram":
                _assert_histogram_is_whole(name, family)
        assert "process_resident_memory_bytes" in {s.name for f in classic.values() for s in f.samples}, name


def _assert_histogram_is_whole(service: str, family: Metric) -> None:
    """Per label set: cumulative buckets in rising `le`, ending at +Inf equal to _count."""
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for sample in family.samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        if sample.name.endswith("_bucket"):
            series.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            counts[key] = sample.value
    assert series, f"{service}: histogram {family.name} has no buckets"
    for key, buckets in series.items():
        bounds = [le for le, _ in buckets]
        assert bounds == sorted(bounds) and math.isinf(bounds[-1]), f"{service} {family.name}{key}: {bounds}"
        cumulative = [n for _, n in buckets]
        assert cumulative == sorted(cumulative), f"{service} {family.name}{key}: buckets not cumulative"
        assert cumulative[-1] == counts[key], f"{service} {family.name}{key}: +Inf bucket is not _count"


@pytest.mark.parametrize("service", SERVICES)
def test_the_plans_metrics_have_their_names_types_and_labels(observed: Observed, service: str) -> None:
    fams = families(observed.text[service])
    for name, (kind, labels, sample_names) in PLAN[service].items():
        assert name in fams, f"{service}: no metric family {name}; it has {sorted(fams)}"
        family = fams[name]
        assert family.type == kind, f"{service}: {name} is a {family.type}, not a {kind}"
        assert {s.name for s in family.samples} == sample_names, f"{service}: {name} samples"
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, f"{service}: {sample.name} labels {sample.labels}"
    bad = fams["bad_messages"].samples
    assert {s.labels["service"] for s in bad} <= {service}
    assert BOUND_INPUTS.get(service, set()) <= {s.labels["socket"] for s in bad}, f"{service}: {bad}"


def test_label_values_are_the_documented_ones(observed: Observed) -> None:
    risk = families(observed.text["risk"])
    levels = {s.labels["scope"]: s.value for s in risk["stormguard_state"].samples}
    assert set(levels) == SCOPES and set(levels.values()) <= {0, 1, 2, 3}, levels
    assert {s.labels["reason"] for s in risk["risk_reject"].samples} <= REASONS
    assert {s.labels["to"] for s in risk["stormguard_transitions"].samples} <= LEVELS
    assert value(risk, "bad_messages_total", service="risk", socket="intents") == 1
    assert value(risk, "risk_reject_total", strategy="unknown", reason=Reason.STRATEGY_DISABLED) == 1
    assert value(risk, "peer_connected", socket="orders") == 1

    adapter = families(observed.text["adapter"])
    assert {s.labels["action"] for s in adapter["order_actions_count"].samples} == set(BROKER_ACTIONS)
    assert value(adapter, "order_actions_count_total", action="place") >= 1
    assert {s.labels["reason"] for s in adapter["adapter_refused"].samples} <= REASONS
    assert value(adapter, "breaker_state") in {0, 1, 2}
    assert value(adapter, "broker_usage") >= 0 and value(adapter, "broker_calls_waiting") >= 0

    strategy = families(observed.text["strategy"])
    assert {s.labels["strategy"] for s in strategy["strategy_latency_seconds"].samples} == {QUOTER["id"]}
    assert {s.labels["action"] for s in strategy["intents"].samples} <= {str(a) for a in IntentAction}

    feed = families(observed.text["feed"])
    assert {s.labels["symbol"] for s in feed["md_events"].samples} == set(QUOTER["symbols"])


def test_promtool_has_nothing_to_say_about_any_scrape(observed: Observed) -> None:
    """Parsed, and named by Prometheus's conventions: promtool exits 1 when it cannot parse the text and 3
    for lint advice (an abbreviated unit, a counter without _total), and prints nothing when all is well."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus); prometheus_client's parsers "
                    "checked the same text above, but not the naming conventions")
    for name in SERVICES:
        done = subprocess.run([promtool, "check", "metrics"], input=observed.text[name], capture_output=True,
                              text=True, timeout=30)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), (name, done.returncode, done.stdout,
                                                                        done.stderr)


def _lines(observed: Observed) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for service, lines in observed.logs.items():
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssertionError(f"{service}.log:{number} is not JSON: {line[:200]!r}") from exc
            yield service, number, entry


def test_every_log_line_is_structlog_json(observed: Observed) -> None:
    assert observed.exit_codes == dict.fromkeys(SERVICES, 0)
    for service, number, entry in _lines(observed):
        where = f"{service}.log:{number}"
        assert isinstance(entry, dict), where
        assert entry.get("service") == service, where
        assert isinstance(entry.get("event"), str) and entry["event"], where
        assert entry.get("level") in LOG_LEVELS, where
        stamp = datetime.fromisoformat(entry["timestamp"])
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0, where
    for service in SERVICES:
        events = [json.loads(line)["event"] for line in observed.logs[service]]
        assert {"service_started", "service_stopped"} <= set(events), service


def test_decision_lines_carry_intent_strategy_reason_and_stormguard_state(observed: Observed) -> None:
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for service, number, entry in _lines(observed):
        event = entry["event"]
        key = (service, "order_report") if service == "adapter" and event in ORDER_REPORT_EVENTS else (service, event)
        if key[1] == "order_report":
            required = {"intent_id", "strategy_id", "stormguard_state", "client_order_id"}
            present = {"reason"}
            if event != "order_fill":
                required = required | {"reason"}
        elif key in DECISIONS:
            required, present = DECISIONS[key]
        elif event == "bad_message":
            required, present = {"socket", "kind", "reason"}, set()
        else:
            continue
        where = f"{service}.log:{number} {event}"
        assert {f for f in required if entry.get(f) is None} == set(), f"{where}: {entry}"
        assert present - set(entry) == set(), f"{where}: {entry}"
        if entry.get("stormguard_state") is not None:
            assert entry["stormguard_state"] in LEVELS, where
        if event == "intent_rejected" or key[1] == "order_report":
            assert entry.get("reason") is None or entry["reason"] in REASONS, where
        seen.setdefault(key, []).append(entry)

    # the decisions this run was made to take are all there, with what they were about
    rejected = [e for e in seen.get(("risk", "intent_rejected"), []) if e["intent_id"] == REJECTED_INTENT]
    assert [(e["strategy_id"], e["reason"], e["stormguard_state"]) for e in rejected] == [
        (STRANGER, Reason.STRATEGY_DISABLED, StormGuardLevel.NORMAL)]
    refused = [e for e in seen.get(("adapter", "order_report"), []) if e["client_order_id"] == UNKNOWN_ORDER]
    assert [(e["event"], e["strategy_id"], e["reason"]) for e in refused] == [
        ("order_cancel_reject", STRANGER, Reason.UNKNOWN_ORDER)]
    assert any(e["event"] == "order_fill" for e in seen.get(("adapter", "order_report"), []))
    transitions = seen.get(("risk", "stormguard_transition"), [])
    assert transitions and {e["scope"] for e in transitions} <= SCOPES
    assert all(e["strategy_id"] == e["scope"] for e in transitions)
    assert seen.get(("control", "stormguard_transition")), "control records every transition it applies"
    assert [(e["socket"], e["reason"]) for e in seen.get(("risk", "bad_message"), [])] == [("intents", "bad_message")]
