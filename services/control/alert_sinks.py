"""AlertSinks: alerts out of control to a command and an HTTP webhook, each with a timeout.

A program to run and a webhook to call may each take seconds, or hang; control's loop must not (it
carries heartbeats, state broadcasts and the operator's commands), so the sinks run on one worker
thread fed by a bounded queue. The thread touches nothing but the alert it was handed, the logger
(whose writes are locked) and the sinks' counters in ControlMetrics. A full queue drops the alert
(counted, logged): the log sink, which control writes on its own loop, has every alert anyway.

- command: argv (no shell), the alert as one JSON object on stdin, ORDERPATH_ALERT_RULE, _SEVERITY,
  _SUBJECT and _SUMMARY in its environment; killed after command_timeout_ms; a non-zero exit is a failure.
- webhook: POST of the same JSON (Content-Type application/json), webhook_timeout_ms for the connect
  and for each read of the answer; a status outside 2xx is a failure.
Failures are logged (`alert_sink_failed`) and counted in alert_sink_failures_total{sink}.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import structlog

from contracts.enums import AlertSeverity
from services.control.alerts import RaisedAlert
from services.control.metrics import ControlMetrics
from services.runtime.config.control import AlertsConfig

_SEVERITY_RANK = {AlertSeverity.WARNING: 0, AlertSeverity.PAGE: 1}
_STOP = object()


class AlertSinks:
    def __init__(self, config: AlertsConfig, log: structlog.stdlib.BoundLogger, metrics: ControlMetrics) -> None:
        self.config = config
        self.log = log
        self.metrics = metrics
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.queue)
        self._thread: threading.Thread | None = None
        if config.command or config.webhook_url:
            self._thread = threading.Thread(target=self._work, name="alert-sinks", daemon=True)
            self._thread.start()

    @property
    def configured(self) -> list[str]:
        return [name for name, on in (("command", bool(self.config.command)),
                                      ("webhook", bool(self.config.webhook_url))) if on]

    def submit(self, alert: RaisedAlert) -> bool:
        """Hand an alert to the sinks, if it is severe enough for them; never blocks."""
        if self._thread is None or _SEVERITY_RANK[alert.severity] < _SEVERITY_RANK[
                AlertSeverity(self.config.min_severity)]:
            return False
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.metrics.alert_sink_dropped.inc()
            self.log.error("alert_sink_dropped", rule=alert.rule, subject=alert.subject, reason="queue full")
            return False
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until every alert handed over so far was tried (for tests and shutdown); False on timeout."""
        done = threading.Event()
        if self._thread is None:
            return True
        try:
            self._queue.put(done, timeout=timeout_s)
        except queue.Full:
            return False
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 1.0) -> None:
        if self._thread is not None:
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                return
            self._thread.join(timeout_s)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._deliver(item)

    def _deliver(self, alert: RaisedAlert) -> None:
        payload = json.dumps(alert.as_dict(), sort_keys=True).encode()
        if self.config.command:
            self._try("command", alert, lambda: self._run_command(alert, payload))
        if self.config.webhook_url:
            self._try("webhook", alert, lambda: self._post(payload))

    def _try(self, sink: str, alert: RaisedAlert, deliver: Callable[[], None]) -> None:
        try:
            deliver()
        except Exception as exc:  # a sink must never take the thread down with it
            self.metrics.alert_sink_failures.labels(sink).inc()
            self.log.error("alert_sink_failed", sink=sink, rule=alert.rule, subject=alert.subject, error=str(exc))
        else:
            self.metrics.alert_sink_delivered.labels(sink).inc()

    def _run_command(self, alert: RaisedAlert, payload: bytes) -> None:
        env = {**os.environ, "ORDERPATH_ALERT_RULE": alert.rule, "ORDERPATH_ALERT_SEVERITY": alert.severity,
               "ORDERPATH_ALERT_SUBJECT": alert.subject, "ORDERPATH_ALERT_SUMMARY": alert.summary}
        try:
            done = subprocess.run(self.config.command, input=payload, env=env, capture_output=True,
                                  timeout=self.config.command_timeout_ms / 1000, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{self.config.command[0]} did not finish within "
                               f"{self.config.command_timeout_ms} ms: killed") from exc
        if done.returncode != 0:
            raise RuntimeError(f"{self.config.command[0]} exited with {done.returncode}: "
                               f"{done.stderr.decode(errors='replace')[-300:]}")

    def _post(self, payload: bytes) -> None:
        request = urllib.request.Request(self.config.webhook_url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.config.webhook_timeout_ms / 1000) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook answered {response.status}")
