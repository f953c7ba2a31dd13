"""AlertCenter: every alert control raises, counted, logged, published, kept for `ctl alerts`, and handed to
the sinks.

The rules (services/control/alerts.py) decide when; this decides where: `alerts_total{rule}` in control's
metrics, one log line (error for a page, warning otherwise: the log sink, always), an Alert on the control
PUB (topic `alert`), the recent ones in memory for `orderpath ctl alerts`, and the command and webhook
sinks for those severe enough (services/control/alert_sinks.py).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import deque
from collections.abc import Callable

import structlog

from contracts.enums import AlertSeverity
from contracts.messages import Alert, ControlReply, ControlRequest
from services.control.alert_sinks import AlertSinks
from services.control.alerts import AlertRules, RaisedAlert
from services.control.metrics import ControlMetrics
from services.runtime.clock import Clock
from services.runtime.config.control import AlertsConfig
from services.runtime.config.strategy_limits import StormGuardConfig


class AlertCenter:
    def __init__(self, clock: Clock, config: AlertsConfig, stormguard: StormGuardConfig,
                 log: structlog.stdlib.BoundLogger, metrics: ControlMetrics,
                 publish: Callable[[Alert], None]) -> None:
        self.log = log
        self.publish = publish
        self.metrics = metrics
        self.recent: deque[RaisedAlert] = deque(maxlen=config.kept)
        self.totals: Tally[str] = Tally()
        self.sinks = AlertSinks(config, log, metrics)
        self.rules = AlertRules(clock, stormguard, self.emit,
                                budget_violations_per_min=config.budget_violations_per_min)

    def emit(self, alert: RaisedAlert) -> None:
        self.metrics.alerts.labels(alert.rule).inc()
        self.totals[alert.rule] += 1
        self.recent.append(alert)
        log = self.log.error if alert.severity is AlertSeverity.PAGE else self.log.warning
        log("alert", rule=alert.rule, severity=alert.severity, subject=alert.subject, reason=alert.summary)
        self.publish(Alert(seq=0, rule=alert.rule, severity=alert.severity, subject=alert.subject,
                           summary=alert.summary, ts_ns=alert.ts_ns))
        self.sinks.submit(alert)

    def answer(self, request: ControlRequest, key: str) -> ControlReply:
        """`ctl alerts`: the recent alerts (newest last), which conditions still hold, totals per rule."""
        try:
            limit = int(request.args.get("limit", "50"))
        except ValueError:
            return ControlReply(request_id=request.request_id, ok=False,
                                error=f"limit must be a number, got {request.args['limit']!r}")
        recent = list(self.recent)[-limit:] if limit > 0 else []
        return ControlReply(request_id=request.request_id, ok=True, body={
            "alerts": [alert.as_dict() for alert in recent],
            "active": sorted(f"{rule}:{subject}" for rule, subject in self.rules.active),
            "totals": dict(self.totals),
            "sinks": ["log", "bus", *self.sinks.configured],
        })
