"""OpsClient: a short-lived client of control's ops socket, used by `orderpath ctl` and `orderpath up`."""

from __future__ import annotations

import getpass
import os
import socket
import uuid

import zmq

from contracts.codec import DecodeError, Decoder, encode
from contracts.messages import ControlReply, ControlRequest


class ControlUnreachable(RuntimeError):
    """Control did not answer in time; the message says where it was looked for and what to do."""


def local_operator() -> str:
    """Who this client says it is in control's audit: the OS user at this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


class OpsClient:
    def __init__(self, endpoint: str, timeout_ms: int = 2000, *, who: str | None = None) -> None:
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.who = who if who is not None else local_operator()
        self._context = zmq.Context.instance()
        self._decoder = Decoder(ControlReply)

    def request(self, verb: str, args: dict[str, str] | None = None) -> ControlReply:
        request = ControlRequest(request_id=uuid.uuid4().hex, verb=verb, args=args or {}, who=self.who)
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        try:
            sock.connect(self.endpoint)
            sock.send_multipart((b"request", encode(request)))
            while True:
                try:
                    frames = sock.recv_multipart()
                except zmq.Again as exc:
                    raise ControlUnreachable(
                        f"no answer from control at {self.endpoint} within {self.timeout_ms / 1000:g}s; "
                        "is the stack running? Start it with `orderpath up` or `orderpath run control`."
                    ) from exc
                try:
                    reply = self._decoder.decode(frames[-1])
                except DecodeError:
                    continue
                if reply.request_id == request.request_id:
                    return reply
        finally:
            sock.close()
