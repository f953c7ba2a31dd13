"""The monitoring profile against the code: Prometheus scrapes every service's metrics port, and every
metric a dashboard panel or an alert rule reads is one the services export."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from contracts.enums import ServiceName
from services.runtime.config.stack import load_stack
from tests.unit.deploy.conftest import REPO, orderpath_services
from tests.unit.deploy.promql import balanced, metric_names

DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "orderpath.json"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return load_yaml(DEPLOY / "prometheus" / "prometheus.yml")


@pytest.fixture(scope="module")
def alert_rules(prometheus: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for name in prometheus["rule_files"]:
        rules += [rule for group in load_yaml(DEPLOY / "prometheus" / name)["groups"] for rule in group["rules"]]
    return rules


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def scraped(prometheus: dict[str, Any]) -> set[tuple[str, int]]:
    """(host, port) of every target, static or found by DNS."""
    targets: set[tuple[str, int]] = set()
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            targets.update((name, int(dns["port"])) for name in dns["names"])
    return targets


def panel_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for nested in [panel, *panel.get("panels", [])]:
            out += [(nested["title"], target["expr"]) for target in nested.get("targets", [])]
    return out


def test_promql_names_are_found_and_functions_are_not() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, strategy) (rate(strategy_latency_seconds_bucket{job="strategy"}'
            '[1m]))) * 1e6 + on(job) group_left breaker_state offset 5m')
    assert metric_names(expr) == {"strategy_latency_seconds_bucket", "breaker_state"}
    assert metric_names("sum(increase(order_actions_count_total[$__rate_interval])) > 150") == {
        "order_actions_count_total"}
    assert balanced(expr) and not balanced("sum(rate(x[1m])")


# --- Prometheus ---------------------------------------------------------------------------------


def test_every_service_metrics_port_is_scraped(compose: dict[str, Any], prometheus: dict[str, Any]) -> None:
    targets = scraped(prometheus)
    for name, svc in orderpath_services(compose).items():
        port = int(svc["environment"][f"ORDERPATH_{svc['command'][1].upper()}_METRICS_PORT"])
        assert (name, port) in targets, f"Prometheus never scrapes {name}:{port}"
    stack = load_stack(REPO / "config" / "stack.yaml", environ={})
    for service in ServiceName:
        assert (str(service), stack.metrics_ports[service]) in targets, f"{service}'s configured port is not scraped"
    for host, _ in targets:
        assert host in compose["services"], f"Prometheus scrapes {host}, which is no compose service"


def test_prometheus_reads_the_mounted_config(compose: dict[str, Any], prometheus: dict[str, Any]) -> None:
    service = compose["services"]["prometheus"]
    (config_flag,) = [arg for arg in service["command"] if arg.startswith("--config.file=")]
    config_dir = PurePosixPath(config_flag.split("=", 1)[1]).parent
    assert f"./deploy/prometheus:{config_dir}:ro" in service["volumes"]
    for rule_file in prometheus["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()


def test_alert_rules_read_metrics_the_code_defines(alert_rules: list[dict[str, Any]],
                                                   defined_metrics: set[str]) -> None:
    assert alert_rules
    for rule in alert_rules:
        names = metric_names(rule["expr"])
        assert names and balanced(rule["expr"]), f"{rule['alert']}: {rule['expr']}"
        assert names <= defined_metrics, f"{rule['alert']} reads {sorted(names - defined_metrics)}, defined nowhere"
        assert rule["labels"]["severity"] in ("page", "warning")
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#")


def test_the_plans_alerts_are_there_with_its_thresholds(alert_rules: list[dict[str, Any]]) -> None:
    by_name = {rule["alert"]: rule for rule in alert_rules}
    assert by_name["StrategyBudgetViolated"]["expr"].endswith("[1m])) > 3")
    assert by_name["StormGuardHalt"]["labels"]["severity"] == "page"
    assert "stormguard_state" in by_name["StormGuardHalt"]["expr"]
    for alert, threshold, severity in (("BrokerUsageWarm", 150, "warning"), ("BrokerUsageSlow", 180, "warning"),
                                       ("BrokerUsageHalt", 230, "page")):
        assert by_name[alert]["expr"] == f"max(broker_usage) > {threshold}", alert
        assert by_name[alert]["labels"]["severity"] == severity


def test_every_runbook_anchor_is_a_heading_of_operations_md(alert_rules: list[dict[str, Any]]) -> None:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {heading_anchor(line) for line in text.splitlines() if line.startswith("#")}
    for rule in alert_rules:
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in anchors, f"{rule['alert']}: docs/operations.md has no heading #{anchor}"


def heading_anchor(line: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    title = line.lstrip("#").strip().lower()
    return "".join(c for c in title if c.isalnum() or c in " -_").replace(" ", "-")


# --- Grafana ------------------------------------------------------------------------------------


def test_dashboard_reads_only_metrics_the_code_defines(dashboard: dict[str, Any], defined_metrics: set[str]) -> None:
    exprs = panel_exprs(dashboard)
    assert exprs
    for title, expr in exprs:
        names = metric_names(expr)
        assert names and balanced(expr), f"{title}: {expr}"
        assert names <= defined_metrics, f"panel {title!r} reads {sorted(names - defined_metrics)}, defined nowhere"


def test_dashboard_shows_what_the_desk_watches(dashboard: dict[str, Any]) -> None:
    read = set().union(*(metric_names(expr) for _, expr in panel_exprs(dashboard)))
    wanted = {
        "tick_to_trade_latency_seconds_bucket", "adapter_latency_seconds_bucket",  # tick-to-trade
        "intents_total", "risk_approved_total", "risk_reject_total",  # intents, rejects by reason
        "stormguard_state",  # per scope
        "broker_usage", "order_actions_count_total",  # broker usage against the cap, order actions
        "fills_total", "strategy_latency_seconds_bucket", "breaker_state",
    }
    assert wanted <= read, f"the dashboard shows nothing of {sorted(wanted - read)}"
    reject_panels = [expr for _, expr in panel_exprs(dashboard) if "risk_reject_total" in expr]
    assert any("by (reason)" in expr for expr in reject_panels)
    usage = [p for p in dashboard["panels"] if p["title"].startswith("Broker usage")]
    steps = [s["value"] for s in usage[0]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert [v for v in steps if v is not None] == [150, 180, 230, 250]


def test_dashboard_uses_the_provisioned_datasource(compose: dict[str, Any], dashboard: dict[str, Any]) -> None:
    (source,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    ids = {p["id"] for p in dashboard["panels"]}
    assert len(ids) == len(dashboard["panels"]), "panel ids repeat"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"]), panel["title"]


def test_grafana_loads_the_dashboard_from_where_compose_mounts_it(compose: dict[str, Any]) -> None:
    (provider,) = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "orderpath.yml")["providers"]
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in volumes
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert PurePosixPath(home) == PurePosixPath(provider["options"]["path"]) / DASHBOARD.name
