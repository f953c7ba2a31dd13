"""CURVE keys and the ZAP handler: keys made with safe modes, the allow-list by name, refusals counted and logged."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import structlog
import zmq
import zmq.utils.z85
from prometheus_client import CollectorRegistry
from structlog.testing import LogCapture

from services.runtime.clock import FakeClock
from services.runtime.config.curve import CurveConfig
from services.runtime.config.loader import ConfigError
from services.runtime.curve import (
    KeysExist,
    allowed_keys,
    client_keys,
    ensure_keys,
    init_keys,
    make_keypair,
    server_keys,
)
from services.runtime.zap import LOG_INTERVAL_NS, ZapHandler


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_three_pairs_secrets_readable_by_the_owner_only(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    written = init_keys(keys_dir, CurveConfig())
    names = sorted(p.relative_to(keys_dir).as_posix() for p in written)
    assert names == ["allowed/operator.key", "allowed/services.key", "operator.key", "operator.key_secret",
                     "server.key", "server.key_secret", "services.key", "services.key_secret"]
    for path in written:
        assert mode(path) == (0o600 if path.name.endswith("_secret") else 0o644), path
    assert mode(keys_dir) == 0o700
    assert sorted(allowed_keys(keys_dir).values()) == ["operator", "services"]
    assert server_keys(keys_dir).secret and client_keys(keys_dir, "operator").name == "operator"


def test_init_refuses_to_replace_keys_unless_forced(tmp_path: Path) -> None:
    init_keys(tmp_path, CurveConfig())
    before = (tmp_path / "server.key").read_text()
    with pytest.raises(KeysExist, match="--force"):
        init_keys(tmp_path, CurveConfig())
    assert (tmp_path / "server.key").read_text() == before
    init_keys(tmp_path, CurveConfig(), force=True)
    assert (tmp_path / "server.key").read_text() != before
    assert mode(tmp_path / "server.key_secret") == 0o600


def test_missing_keys_are_a_config_error_that_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="orderpath keys init"):
        client_keys(tmp_path, "operator")


class Zap:
    def __init__(self, keys_dir: Path) -> None:
        self.context = zmq.Context()
        self.capture = LogCapture()
        log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[self.capture],
                                    wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        self.registry = CollectorRegistry()
        self.clock = FakeClock()
        self.handler = ZapHandler(self.context, keys_dir, self.registry, log, self.clock)

    def ask(self, mechanism: bytes, public_z85: bytes | None = None) -> list[bytes]:
        frames = [b"1.0", b"7", b"ops", b"10.0.0.9", b"", mechanism]
        if public_z85 is not None:
            frames.append(zmq.utils.z85.decode(public_z85))
        return self.handler.answer(frames)

    def refused(self, reason: str = "key_not_allowed") -> float:
        return self.registry.get_sample_value("curve_refused_total", {"reason": reason}) or 0.0

    def close(self) -> None:
        self.handler.close()
        self.context.term()


def test_zap_accepts_allowed_keys_by_name_and_refuses_the_rest(tmp_path: Path) -> None:
    init_keys(tmp_path, CurveConfig())
    rogue_public, _ = zmq.curve_keypair()
    zap = Zap(tmp_path)
    try:
        operator = client_keys(tmp_path, "operator")
        assert zap.ask(b"CURVE", operator.public)[2:5] == [b"200", b"OK", b"operator"]
        refused = zap.ask(b"CURVE", rogue_public)
        assert refused[1] == b"7" and refused[2] == b"400" and refused[4] == b""
        assert zap.refused() == 1
        logged = [e for e in zap.capture.entries if e["event"] == "curve_refused"]
        assert logged[0]["client_key"] == rogue_public.decode() and logged[0]["address"] == "10.0.0.9"
        zap.ask(b"CURVE", rogue_public)
        assert zap.refused() == 2 and len([e for e in zap.capture.entries if e["event"] == "curve_refused"]) == 1, \
            "a refused client retries every 100 ms: logged once per interval"
        zap.clock.advance(LOG_INTERVAL_NS)
        zap.ask(b"CURVE", rogue_public)
        again = [e for e in zap.capture.entries if e["event"] == "curve_refused"]
        assert len(again) == 2 and again[1]["suppressed_since_last"] == 1
        assert zap.ask(b"NULL")[2] == b"200", "plain sockets are not the allow-list's business"
        assert zap.handler.answer([b"0.9", b"1"])[2] == b"500"
    finally:
        zap.close()


def test_revoking_is_deleting_the_allowed_file(tmp_path: Path) -> None:
    init_keys(tmp_path, CurveConfig())
    make_keypair(tmp_path, "ann", allow=True)
    zap = Zap(tmp_path)
    try:
        ann = client_keys(tmp_path, "ann")
        assert zap.ask(b"CURVE", ann.public)[4] == b"ann"
        (tmp_path / "allowed" / "ann.key").unlink()
        assert zap.ask(b"CURVE", ann.public)[2] == b"400"
    finally:
        zap.close()


def test_the_shipped_stack_looks_for_keys_beside_config(tmp_path: Path) -> None:
    """config/ is mounted at /app/config in the containers and the keys volume at /app/keys."""
    from services.local_config import REPO
    from services.runtime.config.stack import load_stack

    curve = load_stack(REPO / "config" / "stack.yaml", environ={}).curve
    assert curve.keys_dir == REPO / "keys" and curve.ops and not curve.data, "the operator plane is authenticated"


def test_clients_failing_the_handshake_are_counted_and_logged_once_per_interval(tmp_path: Path) -> None:
    init_keys(tmp_path, CurveConfig())
    zap = Zap(tmp_path)
    try:
        zap.handler.on_handshake_failed("ops", mismatch=True)
        zap.handler.on_handshake_failed("ops", mismatch=True)
        zap.handler.on_handshake_failed("ops", mismatch=False)
        assert (zap.refused("no_curve"), zap.refused("handshake_failed"), zap.refused()) == (2, 1, 0)
        logged = [e for e in zap.capture.entries if e["event"] == "curve_refused"]
        assert [e["reason"] for e in logged] == ["client without CURVE", "CURVE handshake failed"]
        assert logged[0]["socket"] == "ops"
    finally:
        zap.close()


def test_ensure_keys_makes_them_once_and_refuses_a_half_folder(tmp_path: Path) -> None:
    config = CurveConfig(keys_dir=tmp_path / "keys")
    made = ensure_keys(config)
    assert {p.name for p in made} >= {"server.key_secret", "services.key_secret", "operator.key_secret"}
    assert oct((tmp_path / "keys/operator.key_secret").stat().st_mode & 0o777) == "0o600"
    assert ensure_keys(config) == [], "keys already there are kept: running services use them"
    (tmp_path / "keys/operator.key_secret").unlink()
    with pytest.raises(ConfigError, match=r"not for operator.*keys init --force"):
        ensure_keys(config)
    assert ensure_keys(CurveConfig(ops=False, keys_dir=tmp_path / "none")) == []
    assert not (tmp_path / "none").exists()
