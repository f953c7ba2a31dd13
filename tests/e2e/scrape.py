"""Reading a running service's /metrics the way Prometheus does, parsed by prometheus_client's own parsers."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

T = TypeVar("T")
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
DEADLINE_S = 20.0
POLL_S = 0.05


def scrape(port: int, *, openmetrics: bool = False, timeout_s: float = 5.0) -> str:
    """The body of http://127.0.0.1:`port`/metrics, in the classic text format or OpenMetrics."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept": OPENMETRICS} if openmetrics else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        content_type = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8")
    wanted = "application/openmetrics-text" if openmetrics else "text/plain"
    assert content_type.startswith(wanted), f"port {port} answered {content_type!r} when asked for {wanted}"
    return body


def families(text: str) -> dict[str, Metric]:
    """Metric families of a classic-format scrape by name (a counter's family name has no `_total`)."""
    return {family.name: family for family in parse_text(text)}


def openmetrics_families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in parse_openmetrics(text)}


def value(fams: dict[str, Metric], sample_name: str, **labels: str) -> float:
    """The sum of every sample called `sample_name` whose labels include `labels` (0 when none)."""
    return sum(
        sample.value
        for family in fams.values()
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def wait_for(what: str, probe: Callable[[], T | None], deadline_s: float = DEADLINE_S) -> T:
    """Call `probe` until it returns something truthy, or fail naming `what` and the last answer."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {deadline_s}s (last: {result!r})")
        time.sleep(POLL_S)
