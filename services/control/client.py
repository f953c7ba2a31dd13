"""OpsClient: a short-lived client of control's ops socket, used by `orderpath ctl` and `orderpath up`.

With CURVE on the ops socket the client connects with a key pair (the operator's by default); a key
control does not allow, or a client without CURVE talking to a CURVE control, fails the handshake, and
the client says so at once (the socket's monitor reports it) instead of waiting out its timeout.

A request not answered within its share of the timeout is sent again, with the same request id, on the
same socket (the Lazy Pirate pattern, without the REQ socket's lock-step): an answer can be lost when the
connection is remade (control's ROUTER knows the client under a new identity then) or a queue is full.
Control answers a repeat of a verb that changes something from its memory of recent answers
(services/control/replies.py), so a retry never runs a command twice; reading verbs just run again.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from contracts.codec import DecodeError, Decoder, encode
from contracts.messages import ControlReply, ControlRequest
from services.runtime.config.stack import StackConfig
from services.runtime.curve import ClientKeys, client_keys

_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
ATTEMPTS = 3
"""Sends of one request within the timeout, each after an equal share of it has passed unanswered."""


class ControlUnreachable(RuntimeError):
    """Control did not answer in time; the message says where it was looked for and what to do."""


class ControlRefusedKey(ControlUnreachable):
    """Control's ops socket refused this client's CURVE handshake: its key is not allowed, or one side
    speaks CURVE and the other does not."""


def local_operator() -> str:
    """Who this client says it is in control's audit: the OS user at this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


class OpsClient:
    def __init__(self, endpoint: str, timeout_ms: int = 2000, *, who: str | None = None,
                 curve: ClientKeys | None = None, attempts: int = ATTEMPTS) -> None:
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.attempts = attempts
        self.who = who if who is not None else local_operator()
        self.curve = curve
        self._context = zmq.Context.instance()
        self._decoder = Decoder(ControlReply)

    @classmethod
    def for_stack(cls, stack: StackConfig, timeout_ms: int = 2000, *, key_file: Path | None = None,
                  as_service: bool = False, who: str | None = None) -> OpsClient:
        """A client of the stack's control, with CURVE when curve.ops is on: the operator's key pair from the
        keys folder, or the secret `key_file`; with `as_service`, the services' pair instead (`key_file` ignored),
        for a client that only reads, such as the launcher: that key may not run operator verbs. ConfigError if
        the keys are missing."""
        if not stack.curve.ops:
            return cls(stack.endpoints.ops, timeout_ms, who=who)
        name = stack.curve.service_key if as_service else stack.curve.operator_key
        curve = client_keys(stack.curve.keys_dir, name, None if as_service else key_file)
        return cls(stack.endpoints.ops, timeout_ms, who=who, curve=curve)

    def request(self, verb: str, args: dict[str, str] | None = None) -> ControlReply:
        request = ControlRequest(request_id=uuid.uuid4().hex, verb=verb, args=args or {}, who=self.who)
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if self.curve is not None:
            self.curve.apply(sock)
        monitor = sock.get_monitor_socket(_HANDSHAKE_FAILED)
        payload = encode(request)
        deadline = time.monotonic() + self.timeout_ms / 1000
        try:
            sock.connect(self.endpoint)
            for attempt in range(1, self.attempts + 1):
                sock.send_multipart((b"request", payload))
                share = deadline - (self.attempts - attempt) * self.timeout_ms / 1000 / self.attempts
                reply = self._await(sock, monitor, request.request_id, share)
                if reply is not None:
                    return reply
            raise ControlUnreachable(
                f"no answer from control at {self.endpoint} within {self.timeout_ms / 1000:g}s ({self.attempts} "
                f"tries of request {request.request_id}); is the stack running? Start it with `orderpath up` or "
                "`orderpath run control`."
            )
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close()

    def _await(self, sock: zmq.Socket, monitor: zmq.Socket, request_id: str, deadline: float) -> ControlReply | None:
        """The answer to `request_id` if it comes before `deadline` (time.monotonic), else None; a refused
        handshake raises at once."""
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        while (remaining_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            ready = dict(poller.poll(remaining_ms))
            if monitor in ready:
                event = recv_monitor_message(monitor)
                raise ControlRefusedKey(self._refusal(event["event"]))
            if sock in ready:
                frames = sock.recv_multipart()
                try:
                    reply = self._decoder.decode(frames[-1])
                except DecodeError:
                    continue
                if reply.request_id == request_id:
                    return reply
        return None

    def _refusal(self, event: int) -> str:
        where = f"control at {self.endpoint}"
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return (f"{where} refused this client's CURVE key ({self.curve.name if self.curve else '?'}): it is not "
                    "in control's allow-list (keys/allowed/); `orderpath keys add NAME` makes an allowed one")
        if self.curve is None:
            return f"{where} speaks CURVE and this client does not: set curve.ops in the stack.yaml given"
        return f"{where} does not speak CURVE (curve.ops is off on its side), and this client does"
