"""AlertSinks: the command gets the alert on stdin and in its environment, the webhook a JSON POST; a sink
that fails, or outlives its timeout, is counted and logged and the next alert still goes."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import LogCapture

from contracts.enums import AlertSeverity
from services.control.alert_sinks import AlertSinks
from services.control.alerts import AlertRule, RaisedAlert
from services.control.metrics import ControlMetrics
from services.runtime.config.control import AlertsConfig

WAIT_S = 30.0

PAGE = RaisedAlert(AlertRule.STORMGUARD_HALT, AlertSeverity.PAGE, "mm1", "StormGuard HALT on mm1", 1)
WARNING = RaisedAlert(AlertRule.BROKER_USAGE_WARM, AlertSeverity.WARNING, "adapter", "151 calls", 2)


class Sinks:
    def __init__(self, **config: Any) -> None:
        self.capture = LogCapture()
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[self.capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.registry = CollectorRegistry()
        self.sinks = AlertSinks(AlertsConfig(**config), log, ControlMetrics(self.registry))

    def count(self, name: str, sink: str) -> float:
        return self.registry.get_sample_value(name, {"sink": sink}) or 0.0

    def failures(self) -> list[dict]:
        return [e for e in self.capture.entries if e["event"] == "alert_sink_failed"]


def writer(out: Path) -> list[str]:
    """A command that writes its stdin and its ORDERPATH_ALERT_RULE to `out`."""
    code = ("import os, sys; open(sys.argv[1], 'a').write(os.environ['ORDERPATH_ALERT_RULE'] + ' ' "
            "+ sys.stdin.read() + '\\n')")
    return [sys.executable, "-c", code, str(out)]


def test_the_command_gets_the_alert_and_only_pages_by_default(tmp_path: Path) -> None:
    out = tmp_path / "paged.txt"
    s = Sinks(command=writer(out))
    try:
        assert not s.sinks.submit(WARNING), "a warning is below min_severity: page"
        assert s.sinks.submit(PAGE)
        assert s.sinks.drain(WAIT_S)
        rule, payload = out.read_text().strip().split(" ", 1)
        assert rule == "stormguard_halt"
        assert json.loads(payload) == {"rule": "stormguard_halt", "severity": "page", "subject": "mm1",
                                       "summary": "StormGuard HALT on mm1", "ts_ns": 1}
        assert s.count("alert_sink_delivered_total", "command") == 1
    finally:
        s.sinks.close()


def test_a_command_that_hangs_is_killed_at_its_timeout_and_the_next_alert_goes(tmp_path: Path) -> None:
    marker = tmp_path / "second.txt"
    code = ("import sys, time, json; a = json.load(sys.stdin); "
            "time.sleep(60) if a['ts_ns'] == 1 else open(sys.argv[1], 'w').write('ok')")
    s = Sinks(command=[sys.executable, "-c", code, str(marker)], command_timeout_ms=200, min_severity="warning")
    try:
        s.sinks.submit(PAGE)
        s.sinks.submit(WARNING)
        assert s.sinks.drain(WAIT_S)
        assert "did not finish within 200 ms" in s.failures()[0]["error"]
        assert s.count("alert_sink_failures_total", "command") == 1
        assert marker.read_text() == "ok"
    finally:
        s.sinks.close()


def test_a_failing_command_is_counted_with_its_stderr() -> None:
    s = Sinks(command=[sys.executable, "-c", "import sys; sys.exit('no pager configured')"])
    try:
        s.sinks.submit(PAGE)
        assert s.sinks.drain(WAIT_S)
        assert "exited with 1" in s.failures()[0]["error"] and "no pager configured" in s.failures()[0]["error"]
    finally:
        s.sinks.close()


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status: ClassVar[int] = 200
    hang: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["ts_ns"] == 1 and Hook.status == 0:
            Hook.hang.wait(WAIT_S)  # never answers in time
        Hook.received.append({"body": body, "type": self.headers["Content-Type"]})
        self.send_response(Hook.status or 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.received, Hook.status = [], 200
    Hook.hang = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    Hook.hang.set()
    server.shutdown()
    server.server_close()


def test_the_webhook_gets_a_json_post(hook: str) -> None:
    s = Sinks(webhook_url=hook)
    try:
        s.sinks.submit(PAGE)
        assert s.sinks.drain(WAIT_S)
        assert Hook.received == [{"body": PAGE.as_dict() | {"rule": "stormguard_halt", "severity": "page"},
                                  "type": "application/json"}]
        assert s.count("alert_sink_delivered_total", "webhook") == 1
    finally:
        s.sinks.close()


def test_a_webhook_error_and_a_webhook_timeout_are_failures(hook: str) -> None:
    Hook.status = 503
    s = Sinks(webhook_url=hook, webhook_timeout_ms=300, min_severity="warning")
    try:
        s.sinks.submit(WARNING)
        assert s.sinks.drain(WAIT_S)
        assert "503" in s.failures()[0]["error"]
        Hook.status = 0
        s.sinks.submit(PAGE)
        assert s.sinks.drain(WAIT_S)
        assert "timed out" in s.failures()[1]["error"]
        assert s.count("alert_sink_failures_total", "webhook") == 2
    finally:
        s.sinks.close()


def test_without_sinks_nothing_is_queued() -> None:
    s = Sinks()
    assert not s.sinks.submit(PAGE) and s.sinks.configured == []
