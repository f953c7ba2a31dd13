"""ZapHandler: the ZeroMQ authentication handler (ZAP, RFC 27) of one process, served on its loop.

A CURVE server socket asks the handler of its context, over inproc://zeromq.zap.01, whether to accept
each client that completes a handshake, with the client's public key. This one accepts the keys in
the allow-list (services/runtime/curve.py: keys_dir/allowed, read again at every connection, so
deleting a file revokes the key for every new connection) and answers with the key's name as the
connection's User-Id, which control reads off every request (the audit's `key`). Anything else is
refused (status 400), logged and counted in `curve_refused_total{reason="key_not_allowed"}`; the client's
handshake fails and nothing it sends is ever delivered. A client that fails the handshake before ZAP is
asked (no CURVE at all, or a wrong server key) is seen on the server socket's monitor and counted and
logged the same way (`on_handshake_failed`, reason `no_curve` or `handshake_failed`).

No thread: the loop reads the handler's socket like any other, and handshakes wait the little it takes.
"""

from __future__ import annotations

from pathlib import Path

import structlog
import zmq
import zmq.utils.z85
from prometheus_client import CollectorRegistry, Counter

from services.runtime.clock import Clock
from services.runtime.curve import allowed_keys

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
LOG_INTERVAL_NS = 10_000_000_000
MAX_KEYS_REMEMBERED = 1000
KEY_NOT_ALLOWED, NO_CURVE, HANDSHAKE_FAILED = "key_not_allowed", "no_curve", "handshake_failed"


class ZapHandler:
    def __init__(self, context: zmq.Context, keys_dir: Path, registry: CollectorRegistry,
                 log: structlog.stdlib.BoundLogger, clock: Clock) -> None:
        self.keys_dir = keys_dir
        self.refused = Counter("curve_refused", "Connections refused: no CURVE, a failed handshake, or a key "
                               "not in the allow-list", ["reason"], registry=registry)
        self._log = log
        self._clock = clock
        self._logged_ns: dict[bytes, int] = {}
        self._suppressed: dict[bytes, int] = {}
        self.socket = context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(ZAP_ENDPOINT)

    def on_frames(self, frames: list[bytes]) -> None:
        """One ZAP request in, its answer out (REP: strictly one for one)."""
        self.socket.send_multipart(self.answer(frames))

    def answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6 or frames[0] != ZAP_VERSION:
            return [ZAP_VERSION, frames[1] if len(frames) > 1 else b"", b"500", b"malformed ZAP request", b"", b""]
        request_id, domain, address, mechanism = frames[1], frames[2], frames[3], frames[5]
        if mechanism != b"CURVE":
            return [ZAP_VERSION, request_id, b"200", b"OK", b"", b""]
        client_key = zmq.utils.z85.encode(frames[6]) if len(frames) > 6 and len(frames[6]) == 32 else b""
        name = allowed_keys(self.keys_dir).get(client_key)
        if name is None:
            self.refused.labels(KEY_NOT_ALLOWED).inc()
            self._log_refusal(client_key, reason="key not in the allow-list", address=address.decode(errors="replace"),
                              domain=domain.decode(errors="replace"), client_key=client_key.decode())
            return [ZAP_VERSION, request_id, b"400", b"key not allowed", b"", b""]
        return [ZAP_VERSION, request_id, b"200", b"OK", name.encode(), b""]

    def on_handshake_failed(self, socket_name: str, mismatch: bool) -> None:
        """A client failed the handshake on a CURVE server socket before ZAP was asked: `mismatch` when it
        does not speak CURVE at all (a bare DEALER), else a broken handshake (a wrong server key)."""
        reason = NO_CURVE if mismatch else HANDSHAKE_FAILED
        self.refused.labels(reason).inc()
        self._log_refusal(reason.encode(), reason="client without CURVE" if mismatch else "CURVE handshake failed",
                          socket=socket_name)

    def _log_refusal(self, throttle_key: bytes, **fields: str) -> None:
        """Once per LOG_INTERVAL_NS per key (or kind of failure): a refused client reconnects every 100 ms
        and would flood the log."""
        now = self._clock.mono_ns()
        last = self._logged_ns.get(throttle_key)
        if last is not None and now - last < LOG_INTERVAL_NS:
            self._suppressed[throttle_key] = self._suppressed.get(throttle_key, 0) + 1
            return
        if len(self._logged_ns) > MAX_KEYS_REMEMBERED:
            self._logged_ns.clear()
            self._suppressed.clear()
        self._logged_ns[throttle_key] = now
        self._log.warning("curve_refused", allow_list=str(self.keys_dir / "allowed"),
                          suppressed_since_last=self._suppressed.pop(throttle_key, 0), **fields)

    def close(self) -> None:
        self.socket.close()
