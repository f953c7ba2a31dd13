"""An external strategy, registered in strategy_limits.yaml without a class and spoken for by this test
with only zmq and the independent `msgpack` package (as a client in another language would, by
docs/wire.md): it heartbeats on CURVE ops and shows as connected in `ctl status`; its malformed intent gets a
bad_message decision naming the field; its good one is approved (it asked to hear approvals), acked and
filled; when it falls silent, status says so and control raises the silent-service alert."""

from __future__ import annotations

import os
import time
from typing import Any

import msgpack
import pytest
import zmq
import zmq.auth

from services.launcher import LocalStack
from tests.e2e.control_helpers import risk_hears_market, wait_until

pytestmark = pytest.mark.e2e



class Outsider:
    """The external strategy's sockets: ops (CURVE DEALER), intents (PUSH), md, risk, exec and control SUBs."""

    def __init__(self, stack: LocalStack) -> None:
        endpoints, keys = stack.config.endpoints, stack.config.curve.keys_dir
        self.context = zmq.Context()
        self.ops = self.context.socket(zmq.DEALER)
        server_public, _ = zmq.auth.load_certificate(str(keys / "server.key"))
        public, secret = zmq.auth.load_certificate(str(keys / "services.key_secret"))
        self.ops.curve_serverkey, self.ops.curve_publickey, self.ops.curve_secretkey = server_public, public, secret
        self.ops.connect(endpoints.ops)
        self.intents = self.context.socket(zmq.PUSH)
        self.intents.connect(endpoints.intents)
        self.subs = {name: self._sub(endpoint, topic) for name, endpoint, topic in (
            ("md", endpoints.md, b"2330"), ("risk", endpoints.risk, b"decision"),
            ("exec", endpoints.exec, b"exec"), ("control", endpoints.control, b"alert"))}
        self.beats = 0

    def _sub(self, endpoint: str, topic: bytes) -> zmq.Socket:
        sock = self.context.socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, topic)
        sock.connect(endpoint)
        return sock

    def heartbeat(self) -> None:
        self.beats += 1
        self.ops.send_multipart([b"hb", msgpack.packb({
            "t": "hb", "v": 1, "service": "strategy", "instance": "strategy-ext1", "pid": os.getpid(),
            "seq": self.beats, "ts_ns": time.time_ns()})])

    def next_on(self, name: str, want: Any, deadline_s: float = 20.0, *, beat: bool = True) -> dict[str, Any]:
        """The next message on a SUB for which `want(message)` holds, heartbeating meanwhile (if `beat`)."""
        sock, deadline = self.subs[name], time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if beat:
                self.heartbeat()
            if sock.poll(100):
                message = msgpack.unpackb(sock.recv_multipart()[1])
                if want(message):
                    return message
        raise AssertionError(f"nothing wanted on {name} within {deadline_s}s")

    def intent(self, n: int, price_e4: int, **override: Any) -> dict[str, Any]:
        fields = {"t": "intent", "v": 1, "intent_id": f"ext1.t.{n}", "strategy_id": "ext1", "seq": n,
                  "action": "new", "client_order_id": f"ext1.t.{n}", "symbol": "2330", "side": "buy", "qty": 1,
                  "price_e4": price_e4, "price_type": "LMT", "tif": "IOC", "created_ts_ns": time.time_ns(),
                  "ingest_ts_ns": time.monotonic_ns(), "deadline_ns": time.monotonic_ns() + 2_000_000_000,
                  **override}
        self.intents.send_multipart([b"intent", msgpack.packb(fields)])
        return fields

    def close(self) -> None:
        self.context.destroy(linger=0)


def test_an_external_strategy_trades_and_is_watched(external_stack: LocalStack) -> None:
    stack = external_stack
    stack.start()
    outsider = Outsider(stack)
    try:
        assert stack.status()["strategies"]["ext1"]["state"] in ("not_connected", "alive")
        outsider.heartbeat()
        wait_until("ext1 connected in status", lambda: (
            outsider.heartbeat(), stack.status()["strategies"]["ext1"]["state"] == "alive")[1])

        book = outsider.next_on("md", lambda m: m["t"] == "md" and m["ask_prices_e4"])
        ask = book["ask_prices_e4"][0]
        wait_until("risk receiving md", lambda: (outsider.heartbeat(), risk_hears_market(stack))[1])

        outsider.intent(1, ask, created_ts_ns=float(time.time_ns()))  # what a JavaScript number encodes to
        refused = outsider.next_on("risk", lambda m: m["intent_id"] == "ext1.t.1")
        assert (refused["approved"], refused["reason"]) == (False, "bad_message")
        assert "created_ts_ns" in refused["detail"]

        outsider.intent(2, ask)
        approved = outsider.next_on("risk", lambda m: m["intent_id"] == "ext1.t.2")
        assert approved["approved"] is True and approved["approved_qty"] == 1, \
            (approved["reason"], approved.get("detail"))
        report = outsider.next_on("exec", lambda m: m["intent_id"] == "ext1.t.2" and m["exec_type"] in (
            "fill", "expired", "reject"))
        assert report["strategy_id"] == "ext1"

        # Silent: no more heartbeats. Status says so, and control alerts.
        silent_after_s = stack.config.service_silent_after_ms / 1000
        alert = outsider.next_on("control", lambda m: m["rule"] == "service_silent", silent_after_s + 10, beat=False)
        assert alert["subject"] == "strategy-ext1", alert
        assert stack.status()["strategies"]["ext1"]["state"] == "silent"
    finally:
        outsider.close()

