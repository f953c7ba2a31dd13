"""CURVE on the ops socket, and on every socket: a client without an allowed key gets nothing done.

Real processes on loopback with keys from `orderpath keys init`. Each refusal is observed as an event
(the client's handshake failure, control's answer, its log line), never as a silence waited out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
import zmq
from typer.testing import CliRunner
from zmq.utils.monitor import recv_monitor_message

from contracts.codec import encode
from contracts.enums import ServiceName
from contracts.messages import ControlRequest
from services.cli import app
from services.control.audit import read_audit
from services.control.client import ControlRefusedKey, OpsClient
from services.launcher import LocalStack
from services.runtime.curve import client_keys, make_keypair
from services.summary import summarize
from tests.e2e.control_helpers import DEADLINE_S, ctl, ctl_json, log_lines, wait_logged, wait_until
from tests.e2e.stack_config import QUOTER, write_stack_config

pytestmark = pytest.mark.e2e


def curve_stack(tmp_path: Path, **curve: Any) -> Path:
    config = write_stack_config(tmp_path, strategies=[QUOTER])
    stack = yaml.safe_load(config.read_text())
    stack["curve"] = {"keys_dir": str(tmp_path / "keys"), **curve}
    config.write_text(yaml.safe_dump(stack))
    done = CliRunner().invoke(app, ["keys", "init", "--config", str(config)])
    assert done.exit_code == 0, done.output
    return config


def start(config: Path, *, with_feed: bool) -> LocalStack:
    local = LocalStack(config)
    local.start(with_feed=with_feed)
    return local


@pytest.fixture
def ops_curve(tmp_path: Path) -> Iterator[LocalStack]:
    local = start(curve_stack(tmp_path, ops=True), with_feed=False)
    try:
        yield local
    finally:
        local.stop()


def test_the_launcher_and_ctl_ping_use_the_stacks_keys(ops_curve: LocalStack) -> None:
    """The launcher waited for every service through control's CURVE ops socket (start() returned), and
    reads its status with the services' key; the healthcheck's `ctl ping` goes with the operator's."""
    assert ops_curve.ops.curve is not None and ops_curve.ops.curve.name == "services"
    assert set(ops_curve.status()["services"]) >= {"adapter", "risk", "strategy"}
    done = ctl(ops_curve.stack_file, "ping", "risk")
    assert done.exit_code == 0 and "risk alive" in done.stdout, done.output
    audit = read_audit(ops_curve.config.var_dir / "control-audit.jsonl")
    assert {r["key"] for r in audit if r["verb"] == "status"} == {"services"}, "the launcher's reads, by its key"


def test_only_allowed_keys_get_anything_done_on_ops(ops_curve: LocalStack, tmp_path: Path) -> None:
    config, keys_dir = ops_curve.stack_file, ops_curve.config.curve.keys_dir
    audit_path = ops_curve.config.var_dir / "control-audit.jsonl"
    assert ctl(config, "hold").exit_code == 0, "the operator's key, allowed by keys init"
    wait_logged(ops_curve.log_dir / "adapter.log", "gate_closed", reason="hold_fire")

    make_keypair(tmp_path / "elsewhere", "rogue", allow=False)  # a valid pair control never heard of
    rogue = ctl(config, "resume", env={"ORDERPATH_CTL_KEY": str(tmp_path / "elsewhere" / "rogue.key_secret")})
    assert rogue.exit_code == 2 and "refused this client's CURVE key (rogue)" in rogue.stderr
    wait_logged(ops_curve.log_dir / "control.log", "curve_refused", domain="ops")

    with pytest.raises(ControlRefusedKey, match="speaks CURVE and this client does not"):
        OpsClient(ops_curve.config.endpoints.ops, timeout_ms=int(DEADLINE_S * 1000)).request("resume")

    services_key = OpsClient(ops_curve.config.endpoints.ops, curve=client_keys(keys_dir, "services"))
    refused = services_key.request("resume")
    assert not refused.ok and "may not run resume" in refused.error
    assert services_key.request("ping", {"service": "risk"}).ok, "the services' key may read"

    assert ctl_json(config, "status")["stormguard"]["hold_fire"] is True, "nobody but the operator did anything"
    records = [(r["verb"], r["key"], r["ok"]) for r in read_audit(audit_path) if r["verb"] != "status"]
    assert records == [("hold", "operator", True), ("resume", "services", False)]

    make_keypair(keys_dir, "ann", allow=True)
    ann = {"ORDERPATH_CTL_KEY": str(keys_dir / "ann.key_secret")}
    assert ctl(config, "resume", env=ann).exit_code == 0
    assert read_audit(audit_path)[-1]["key"] == "ann", "the audit names the key, by its allow-list file"
    (keys_dir / "allowed" / "ann.key").unlink()
    assert ctl(config, "hold", env=ann).exit_code == 2, "revoked: deleting the file is enough"


def handshake_event(context: zmq.Context, endpoint: str, keys: Any | None) -> int:
    """Connect a SUB (with `keys`, or plain) and return the first handshake event its monitor reports."""
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        keys.apply(sub)
    monitor = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                     | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
    sub.connect(endpoint)
    try:
        assert monitor.poll(int(DEADLINE_S * 1000)), "no handshake outcome"
        return recv_monitor_message(monitor)["event"]
    finally:
        sub.disable_monitor()
        monitor.close(linger=0)
        sub.close()


def test_with_curve_on_every_socket_the_desk_trades_and_strangers_cannot_listen(tmp_path: Path) -> None:
    config = curve_stack(tmp_path, ops=True, data=True)
    local = start(config, with_feed=True)
    try:
        summary = wait_until("orders placed through CURVE sockets", lambda: (s := summarize(local.status()))
                             and s["orders"] > 0 and s)
        assert summary["bad_messages"] == 0
        keys_dir, md = local.config.curve.keys_dir, local.config.endpoints.md
        context = zmq.Context()
        try:
            assert handshake_event(context, md, None) == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            make_keypair(tmp_path / "elsewhere", "rogue", allow=False)
            rogue = client_keys(keys_dir, "rogue", tmp_path / "elsewhere" / "rogue.key_secret")
            assert handshake_event(context, md, rogue) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
            assert handshake_event(context, md, client_keys(keys_dir, "services")) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        finally:
            context.destroy(linger=0)
        wait_logged(local.log_dir / "feed.log", "curve_refused", domain="data")
        assert not log_lines(local.log_dir / "risk.log", "curve_refused"), "the desk's own services are allowed"
        assert ServiceName.FEED in local.status()["services"]
    finally:
        local.stop()


def metric(status: dict[str, Any], service: str, name: str, **labels: str) -> float:
    return sum(value for metric_name, metric_labels, value in status["services"][service]["metrics"]
               if metric_name == name and all(metric_labels.get(k) == v for k, v in labels.items()))


def test_as_shipped_the_operator_plane_refuses_and_counts_a_client_without_curve(tmp_path: Path) -> None:
    """The default stack: keys made on first start, `ctl` finds the operator's, and a bare DEALER from
    another process (no key at all) gets nothing done: its hold, cancel_all and force never reach control."""
    config = write_stack_config(tmp_path, strategies=[QUOTER])
    assert not (tmp_path / "keys").exists()
    local = start(config, with_feed=False)
    try:
        assert local.keys_created and (tmp_path / "keys" / "operator.key_secret").exists()
        context = zmq.Context()
        try:
            intruder = context.socket(zmq.DEALER)
            intruder.setsockopt(zmq.LINGER, 0)
            intruder.connect(local.config.endpoints.ops)
            for verb, args in (("hold", {}), ("cancel_all", {"confirmed": "yes"}),
                               ("stormguard_force", {"scope": "global", "level": "HALT", "confirmed": "yes"})):
                intruder.send_multipart([b"req", request_frame(verb, args)])
            # What control sees of it is the mechanism mismatch or, when the client hung up first, a
            # handshake cut short: either is a refusal counted (services/runtime/service.py).
            wait_until("control counted the client without CURVE",
                       lambda: metric(local.status(), "control", "curve_refused_total") or None)
            assert not intruder.poll(100), "nothing answers a client that failed the handshake"
        finally:
            context.destroy(linger=0)
        wait_logged(local.log_dir / "control.log", "curve_refused", socket="ops")
        sg = ctl_json(config, "status")["stormguard"]
        assert (sg["hold_fire"], sg["cancel_all"], sg["forced"]) == (False, False, {})
        assert ctl_json(config, "status")["security"] == {"ops_curve": True, "data_curve": False}
    finally:
        local.stop()


def request_frame(verb: str, args: dict[str, str]) -> bytes:
    return encode(ControlRequest(request_id=verb, verb=verb, args=args, who="intruder@nowhere"))


def test_turning_curve_off_is_warned_in_status(tmp_path: Path) -> None:
    local = start(write_stack_config(tmp_path, strategies=[QUOTER], curve_ops=False), with_feed=False)
    try:
        security = ctl_json(local.stack_file, "status")["security"]
        assert security["ops_curve"] is False and "any local process" in security["warning"]
        assert "WARNING   curve.ops is off" in ctl(local.stack_file, "status").stdout
        wait_logged(local.log_dir / "control.log", "ops_unauthenticated", since_start=0)  # said before it starts
    finally:
        local.stop()


def test_nothing_listens_wider_than_loopback(tmp_path: Path) -> None:
    """Every listening socket of a running stack (ZeroMQ's and the metrics servers') is on the address the
    config gives, and that is loopback."""
    local = start(write_stack_config(tmp_path, strategies=[QUOTER], metrics=True), with_feed=True)
    try:
        pids = {proc.popen.pid for proc in local.processes.values()}
        listening = [c for c in psutil.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.pid in pids]
        ports = {int(e.rsplit(":", 1)[1]) for e in local.config.endpoints.model_dump().values()} | \
            set(local.config.metrics_ports.values())
        assert {c.laddr.port for c in listening} == ports, "every configured socket, and nothing else, listens"
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    finally:
        local.stop()
