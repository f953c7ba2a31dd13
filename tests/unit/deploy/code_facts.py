"""What the code itself says about each service, for checking the deployment files against it.

Each service's `main` (the one `orderpath run NAME` runs) is executed up to its loop with socket
bind/connect recorded instead of done and the loop replaced by a clean shutdown: so whatever module
a socket is made in, the facts are the ones the process would act on. Per service: the endpoints
(fields of services.runtime.config.stack.Endpoints) it binds and connects, the names of every
sample its Prometheus registry exports, the registry's exposition text (for promtool), and the files
it has made under the stack's var_dir by then (what a container must keep on a volume). The tests
run this module in a subprocess (`python -m tests.unit.deploy.code_facts VAR_DIR`, JSON on stdout),
so the patches and the global logging setup never leak into other tests.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import zmq
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from contracts.enums import ServiceName
from services.cli import SERVICE_MODULES
from services.runtime.config.stack import Endpoints, load_stack
from services.runtime.curve import ensure_keys
from services.runtime.service import ServiceRuntime

REPO = Path(__file__).resolve().parents[3]

SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry can export, including those of labelled metrics with no child yet."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


class _Families:
    """A collector of families already collected, to render them as exposition text."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def exposition(registry: CollectorRegistry) -> str:
    """The registry's /metrics text, with a zero sample (no labels) standing in for every metric that has
    none yet (labelled, no label values seen before the loop), so a linter sees every family the
    service can export, not only those it has used."""
    families = []
    for family in registry.collect():
        if not family.samples:
            for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)):
                if suffix != "_created":
                    family.add_sample(family.name + suffix, {"le": "+Inf"} if suffix == "_bucket" else {}, 0.0)
        families.append(family)
    rendered = CollectorRegistry()
    rendered.register(_Families(families))
    return generate_latest(rendered).decode()


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def probe(var_dir: Path) -> dict[str, Any]:
    fields = list(Endpoints.model_fields)
    endpoint_field = {f"tcp://127.0.0.1:{40000 + i}": name for i, name in enumerate(fields)}
    environ = {f"ORDERPATH_{name.upper()}_ENDPOINT": endpoint for endpoint, name in endpoint_field.items()}
    stack = load_stack(REPO / "config" / "stack.yaml", environ=environ)
    # The operator plane's keys, as `orderpath up` makes them on first start, beside var_dir (so no service's
    # writes under var_dir include them).
    curve = stack.curve.model_copy(update={"keys_dir": Path(tempfile.mkdtemp(prefix="orderpath-keys-"))})
    ensure_keys(curve)
    stack = stack.model_copy(update={"var_dir": var_dir, "metrics_ports": {}, "cpu_affinity": {}, "curve": curve})

    facts: dict[str, Any] = {"endpoint_fields": fields, "services": {}}
    current: dict[str, set[str]] = {}
    real_bind, real_connect = zmq.Socket.bind, zmq.Socket.connect

    def recorder(role: str, real: Any) -> Any:
        def record(sock: zmq.Socket, addr: str) -> Any:
            if addr in endpoint_field:
                current[role].add(endpoint_field[addr])
                return None
            return real(sock, addr)  # inproc monitors and the like
        return record

    def stop_before_loop(rt: ServiceRuntime) -> int:
        facts["services"][str(rt.name)]["metrics"] = sorted(exported_names(rt.metrics.registry))
        facts["services"][str(rt.name)]["exposition"] = exposition(rt.metrics.registry)
        rt.loop.close()
        rt.context.destroy(linger=0)
        return 0

    zmq.Socket.bind = recorder("bind", real_bind)  # type: ignore[method-assign]
    zmq.Socket.connect = recorder("connect", real_connect)  # type: ignore[method-assign]
    ServiceRuntime.run = stop_before_loop  # type: ignore[method-assign]
    for name in ServiceName:
        current.clear()
        current.update(bind=set(), connect=set())
        facts["services"][str(name)] = {}
        before = files_under(var_dir)
        code = importlib.import_module(SERVICE_MODULES[name]).main(stack)
        facts["services"][str(name)].update(
            exit_code=code, binds=sorted(current["bind"]), connects=sorted(current["connect"]),
            writes_var=sorted(files_under(var_dir) - before))
    return facts


def main() -> None:
    os.environ.setdefault("SJ_LOG_PATH", os.devnull)
    var_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="orderpath-facts-"))
    facts = probe(var_dir)
    sys.stdout.write(json.dumps(facts) + "\n")


if __name__ == "__main__":
    main()
