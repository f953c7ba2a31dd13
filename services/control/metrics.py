"""Control's Prometheus metrics: the alerts it raised and what its sinks did with them.

`config_version_info` is not here: every service that reads hot config exports it through
services/runtime/hot_config.py's ConfigVersions, control included.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.control.alerts import AlertRule


class ControlMetrics:
    """Every metric control exports. The sinks' counters are incremented on their worker thread
    (prometheus_client's counters are locked)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter("alerts", "Alerts raised by control", ["rule"], registry=registry)
        for rule in AlertRule:  # every rule's series exists at 0, so a rate over it starts from the first alert
            self.alerts.labels(rule)
        self.alert_sink_failures = Counter("alert_sink_failures", "Alerts a sink could not deliver", ["sink"],
                                           registry=registry)
        self.alert_sink_dropped = Counter("alert_sink_dropped", "Alerts dropped because the sinks' queue was full",
                                          registry=registry)
        self.alert_sink_delivered = Counter("alert_sink_delivered", "Alerts a sink delivered", ["sink"],
                                            registry=registry)
