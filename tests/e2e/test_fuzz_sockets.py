"""Fuzzing every bound socket of a running stack: no service dies, every bad frame is counted, trading goes on.

The sockets a stack binds (docs/design.md, "Sockets and who binds") and what can be sent into them:

- intents (risk, PULL), orders (adapter, PULL): a PUSH connects and sends anything;
- ops (control, ROUTER), exec_replay (adapter, ROUTER): a DEALER connects, sends anything, gets answers;
- md (feed, an XPUB while the feed waits for subscribers): an XSUB can send frames upstream; the feed
  reads subscriptions off it and ignores everything else, uncounted (nothing there is a message);
- exec (adapter), risk (risk), control (control), all PUB: libzmq discards whatever a peer sends into a
  PUB, so the service never sees it; fuzzed anyway, for survival only;
- each service's metrics port (HTTP): random bytes, for survival and a good scrape afterwards.

Into the four message sockets go random bytes, msgpack of the wrong shape (the socket's own tag with
fields of the wrong types, any msgpack value), unknown message types (made-up tags, and real messages
of another socket), wrong frame counts, and msgpack nested deeper than the decoder's recursion limit.
Each batch ends with a message the service must answer (a RiskDecision, an ExecutionReport, a reply)
on the same connection, so when the answer arrives every frame before it was read, and the service is
alive. Then the out-of-order seqs: OrderIntents whose seq goes backwards (risk does not order intents
by seq; a re-sent intent id is refused as duplicate_intent), and ExecReplayRequests with nonsense
ranges (refused as bad_range unless 1 <= first_seq <= last_seq; every sensible one answered, within
its range). Last, frames over `sockets.max_msg_size_bytes`: libzmq drops the sender's connection
before the service sees anything, so nothing counts them; the sender reconnects and is heard again.

At the end every service is alive, `bad_messages_total{service,socket}` rose by exactly the bad
frames sent to that socket and nowhere else, each refusal was counted under its reason, and new
fills arrive after the fuzzing. Every intent and order this test sends is of the strategy id `fuzz`,
which risk does not know, and every cancel is of an order that never existed: nothing it sends trades.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import pytest
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client.metrics_core import Metric

from contracts.codec import DecodeError, Decoder, encode
from contracts.enums import ExecType, IntentAction, Reason, ServiceName, Side
from contracts.messages import (
    AdapterUsage,
    ControlReply,
    ControlRequest,
    ExecReplay,
    ExecReplayRequest,
    ExecutionReport,
    Heartbeat,
    Message,
    OrderCommand,
    OrderIntent,
    OrdersDump,
    RiskDecision,
    RiskDump,
    RiskSnapshot,
)
from services.control.client import OpsClient
from services.launcher import LocalStack
from tests.e2e.scrape import families, scrape, value, wait_for
from tests.e2e.stack_config import QUOTER, never_drawn_down, write_stack_config
from tests.golden.samples import SAMPLES

pytestmark = pytest.mark.e2e

SERVICES = tuple(str(name) for name in ServiceName)
STRANGER = "fuzz"
ANSWER_DEADLINE_S = 10.0
FUZZ = settings(
    max_examples=120, deadline=None, database=None, derandomize=False,
    # no shrinking: a frame that kills a service makes every later example fail too
    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
)
FEW = settings(FUZZ, max_examples=25)


@dataclass(frozen=True)
class Target:
    """A socket a service binds and reads messages from, and how a fuzzer talks to it."""

    name: str
    service: str
    kind: int  # the fuzzer's socket type
    types: tuple[type[Message], ...]

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t.__struct_config__.tag for t in self.types)  # type: ignore[misc]

    def is_bad(self, frames: list[bytes]) -> bool:
        """Whether the service must refuse these frames (the contract's rule, decoded the way it decodes)."""
        if len(frames) != 2:
            return True
        try:
            message = Decoder(*self.types).decode(frames[1])
        except (DecodeError, RecursionError):
            return True
        if isinstance(message, ExecReplayRequest):
            return not 1 <= message.first_seq <= message.last_seq
        return False


TARGETS = {
    "intents": Target("intents", "risk", zmq.PUSH, (OrderIntent,)),
    "orders": Target("orders", "adapter", zmq.PUSH, (OrderCommand,)),
    # services answer dumps on ops too: an unasked-for dump is a valid message (logged unclaimed), not bad
    "ops": Target("ops", "control", zmq.DEALER, (Heartbeat, ControlRequest, OrdersDump, RiskDump)),
    "exec_replay": Target("exec_replay", "adapter", zmq.DEALER, (ExecReplayRequest,)),
}
PUBLISHERS = ("md", "exec", "risk", "control")


# -- what goes into the sockets

def nested(tag: str, depth: int) -> bytes:
    """A map with the right tag and an unknown field `depth` one-element arrays deep."""
    return b"\x82" + msgpack.packb("t") + msgpack.packb(tag) + msgpack.packb("x") + b"\x91" * depth + b"\xc0"


def pack(value_: Any) -> bytes:
    return msgpack.packb(value_, use_bin_type=True)


LEAVES = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
          | st.text(max_size=24) | st.binary(max_size=24))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=12) | st.integers(-(2**31), 2**31), inner, max_size=4),
                      max_leaves=16)


def payloads(target: Target) -> st.SearchStrategy[bytes]:
    fields = sorted({f for t in target.types for f in t.__struct_fields__})
    wrong_shape = st.fixed_dictionaries(
        {"t": st.sampled_from(target.tags)}, optional={f: VALUES for f in [*fields, "v"]}).map(pack)
    made_up_type = st.fixed_dictionaries(
        {"t": st.text(max_size=16).filter(lambda tag: tag not in SAMPLES)}, optional={"v": LEAVES}).map(pack)
    another_sockets = st.sampled_from(sorted(tag for tag in SAMPLES if tag not in target.tags)).map(
        lambda tag: encode(SAMPLES[tag]))
    too_deep = st.tuples(st.sampled_from(target.tags), st.integers(1_000, 100_000)).map(lambda a: nested(*a))
    return st.one_of(st.binary(max_size=512), VALUES.map(pack), wrong_shape, made_up_type, another_sockets,
                     too_deep)


def bad_frames(target: Target) -> st.SearchStrategy[list[bytes]]:
    topic = st.sampled_from([tag.encode() for tag in target.tags]) | st.binary(max_size=16)
    return st.one_of(
        st.tuples(topic, payloads(target)).map(list),
        st.lists(st.binary(max_size=64), min_size=1, max_size=1),
        st.lists(st.binary(max_size=64), min_size=3, max_size=5),
    ).filter(target.is_bad)


def must_try(target: Target) -> list[list[bytes]]:
    """Frames every run sends, whatever hypothesis draws."""
    tag = target.tags[0]
    other = next(t for t in SAMPLES if t not in target.tags)
    return [
        [tag.encode(), b""], [tag.encode(), b"\xc1"], [b""], [tag.encode(), b"a", b"b"],
        [tag.encode(), pack({"t": tag})], [tag.encode(), pack({"t": "no_such_type", "v": 1})],
        [tag.encode(), encode(SAMPLES[other])], [tag.encode(), nested(tag, 3_000)],
        [tag.encode(), nested(tag, 500_000)], [tag.encode(), pack([[[[]]]])],
    ]


# -- the stack and the fuzzer's side of it


@dataclass
class Fuzzer:
    stack: LocalStack
    context: zmq.Context
    senders: dict[str, zmq.Socket] = field(default_factory=dict)
    bad_sent: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)  # risk_reject_total{strategy="unknown"} by reason
    refused_unknown_order: int = 0
    replay_requests: int = 0
    ids: Iterator[int] = field(default_factory=count)

    def __post_init__(self) -> None:
        endpoints = self.stack.config.endpoints
        for target in TARGETS.values():
            sock = self.context.socket(target.kind)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(getattr(endpoints, target.name))
            self.senders[target.name] = sock
        self.decisions = self._subscribe(endpoints.risk, [b"decision", b"risk_snapshot"])
        self.reports = self._subscribe(endpoints.exec, [b"exec", b"usage"])
        self.decision_decoder = Decoder(RiskDecision, RiskSnapshot)
        self.report_decoder = Decoder(ExecutionReport, AdapterUsage)
        # our SUBs are live once each has had one periodic message
        self._next(self.decisions, self.decision_decoder, lambda m: isinstance(m, RiskSnapshot), "a RiskSnapshot")
        self._next(self.reports, self.report_decoder, lambda m: isinstance(m, AdapterUsage), "an AdapterUsage")

    def _subscribe(self, endpoint: str, topics: list[bytes]) -> zmq.Socket:
        sock = self.context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic)
        sock.connect(endpoint)
        return sock

    def _next(self, sock: zmq.Socket, decoder: Decoder, wanted: Callable[[Any], bool], what: str,
              service: str | None = None) -> Any:
        """The first message on `sock` that `wanted` accepts, within the deadline; on failure, says
        whether `service` is still running and how its log ends."""
        deadline = time.monotonic() + ANSWER_DEADLINE_S
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not sock.poll(remaining_ms):
                raise AssertionError(f"no {what} within {ANSWER_DEADLINE_S}s; {self.service_state(service)}")
            frames = sock.recv_multipart()
            try:
                message = decoder.decode(frames[-1])
            except DecodeError:
                continue
            if wanted(message):
                return message

    def service_state(self, service: str | None) -> str:
        if service is None:
            return ""
        proc = self.stack.processes[ServiceName(service)]
        code = proc.popen.poll()
        tail = proc.log_path.read_text(encoding="utf-8", errors="replace")[-1500:] if code is not None else ""
        return f"{service} {'running' if code is None else f'exited with {code}'} {tail}"

    # frames every target must answer: when the answer comes, all that was sent before it was read

    def stranger_intent(self, *, intent_id: str, seq: int, action: IntentAction = IntentAction.NEW,
                        qty: int = 1, price_e4: int = 5_000_000, symbol: str = "2330") -> OrderIntent:
        now = time.monotonic_ns()
        return OrderIntent(intent_id=intent_id, strategy_id=STRANGER, seq=seq, action=action,
                           client_order_id=intent_id, symbol=symbol, side=Side.BUY, qty=qty, price_e4=price_e4,
                           created_ts_ns=time.time_ns(), ingest_ts_ns=now, deadline_ns=now + 60_000_000_000)

    def decision_for(self, intent_id: str) -> RiskDecision:
        return self._next(self.decisions, self.decision_decoder,
                          lambda m: isinstance(m, RiskDecision) and m.intent_id == intent_id,
                          f"RiskDecision for {intent_id}", "risk")

    def report_for(self, client_order_id: str) -> ExecutionReport:
        return self._next(self.reports, self.report_decoder,
                          lambda m: isinstance(m, ExecutionReport) and m.client_order_id == client_order_id,
                          f"ExecutionReport for {client_order_id}", "adapter")

    def reply_on(self, sock: zmq.Socket, decoder: Decoder, request_id: str, service: str) -> Any:
        return self._next(sock, decoder, lambda m: m.request_id == request_id, f"answer to {request_id}", service)

    def answered(self, target: str, sock: zmq.Socket | None = None) -> None:
        """Send `target` something it must answer, on `sock` (default: our usual sender), and wait for it."""
        sock = sock or self.senders[target]
        n = next(self.ids)
        if target == "intents":
            intent_id = f"{STRANGER}.barrier.{n}"
            sock.send_multipart((b"intent", encode(self.stranger_intent(intent_id=intent_id, seq=n))))
            assert self.decision_for(intent_id).reason == Reason.STRATEGY_DISABLED
            self.rejects[Reason.STRATEGY_DISABLED] += 1
        elif target == "orders":
            client_order_id = f"{STRANGER}.barrier.{n}"
            now = time.monotonic_ns()
            sock.send_multipart((b"order", encode(OrderCommand(
                intent_id=client_order_id, strategy_id=STRANGER, action=IntentAction.CANCEL,
                client_order_id=client_order_id, symbol="2330", side=Side.SELL, qty=1, price_e4=5_000_000,
                ingest_ts_ns=now, approved_mono_ns=now, deadline_ns=now + 60_000_000_000))))
            report = self.report_for(client_order_id)
            assert (report.exec_type, report.reason) == (ExecType.CANCEL_REJECT, Reason.UNKNOWN_ORDER)
            self.refused_unknown_order += 1
        elif target == "ops":
            request = ControlRequest(request_id=f"barrier-{n}", verb="ping", args={"service": "control"})
            sock.send_multipart((b"request", encode(request)))
            reply = self.reply_on(sock, Decoder(ControlReply), request.request_id, "control")
            assert reply.ok, reply
        else:
            request = ExecReplayRequest(request_id=f"barrier-{n}", first_seq=1, last_seq=1)
            sock.send_multipart((b"exec_replay_req", encode(request)))
            self.reply_on(sock, Decoder(ExecReplay), request.request_id, "adapter")
            self.replay_requests += 1

    def send_bad(self, target: Target, batch: list[list[bytes]]) -> None:
        for frames in batch:
            assert target.is_bad(frames), frames
            self.senders[target.name].send_multipart(frames)
        self.bad_sent[target.name] += len(batch)
        self.answered(target.name)

    def close(self) -> None:
        self.context.destroy(linger=0)


def counters(stack: LocalStack) -> dict[str, dict[str, Metric]]:
    return {name: families(scrape(stack.config.metrics_ports[name])) for name in SERVICES}


def bad_by_socket(fams: dict[str, dict[str, Metric]]) -> dict[tuple[str, str], float]:
    return {
        (s.labels["service"], s.labels["socket"]): s.value
        for service in fams.values() for s in service["bad_messages"].samples if s.name == "bad_messages_total"
    }


def trading(fams: dict[str, dict[str, Metric]]) -> tuple[float, float]:
    return value(fams["adapter"], "fills_total"), value(fams["adapter"], "order_actions_count_total", action="place")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    # At STORM the quoter only trades to flat, and "trading goes on" must be about the fuzzing, not its PnL.
    # The ops socket open (curve_ops=False): what is fuzzed is the decoding behind it, which CURVE would
    # keep the fuzzer's frames from reaching (tests/e2e/test_curve.py covers who may connect).
    running = LocalStack(write_stack_config(tmp_path, strategies=[never_drawn_down(QUOTER)], metrics=True,
                                            risk={"global": {"capital_twd": 100_000_000_000}}, curve_ops=False))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_fuzzing_every_bound_socket_kills_nothing_and_every_bad_frame_is_counted(stack: LocalStack) -> None:
    wait_for("first fills", lambda: trading(counters(stack))[0] > 0)
    before = counters(stack)
    fuzzer = Fuzzer(stack, zmq.Context())
    try:
        for target in TARGETS.values():
            fuzzer.send_bad(target, must_try(target))

        @FUZZ
        @given(st.data())
        def malformed(data: st.DataObject) -> None:
            target = TARGETS[data.draw(st.sampled_from(sorted(TARGETS)), label="target")]
            fuzzer.send_bad(target, data.draw(st.lists(bad_frames(target), min_size=1, max_size=4), label="frames"))

        malformed()
        intents_out_of_order(fuzzer)
        replay_ranges(fuzzer)
        unknown_verbs(fuzzer)
        oversized(fuzzer)
        into_publishers(fuzzer)
        into_metrics_ports(fuzzer)
        fuzzed = counters(stack)
    finally:
        fuzzer.close()

    # every service alive: its process, control's view of it, and its answer to a ping through control
    assert {name: proc.popen.poll() for name, proc in stack.processes.items()} == dict.fromkeys(ServiceName, None)
    services = stack.status()["services"]
    assert {name: services[name]["state"] for name in SERVICES} == dict.fromkeys(SERVICES, "alive")
    ops = OpsClient(stack.config.endpoints.ops)
    assert all(ops.request("ping", {"service": name}).ok for name in SERVICES)

    # every bad frame counted where it was sent, and nowhere else
    counted = {key: n - bad_by_socket(before).get(key, 0) for key, n in bad_by_socket(fuzzed).items()}
    expected = {(t.service, t.name): fuzzer.bad_sent[t.name] for t in TARGETS.values()}
    assert {key: n for key, n in counted.items() if n} == expected
    assert all(n > 0 for n in expected.values()), expected

    # every refusal counted under its reason
    for reason, n in fuzzer.rejects.items():
        counted_rejects = (value(fuzzed["risk"], "risk_reject_total", strategy="unknown", reason=reason)
                           - value(before["risk"], "risk_reject_total", strategy="unknown", reason=reason))
        assert counted_rejects == n, reason
    refused = (value(fuzzed["adapter"], "adapter_refused_total", reason=Reason.UNKNOWN_ORDER)
               - value(before["adapter"], "adapter_refused_total", reason=Reason.UNKNOWN_ORDER))
    assert refused >= fuzzer.refused_unknown_order > 0
    answered = (value(fuzzed["adapter"], "exec_replay_requests_total")
                - value(before["adapter"], "exec_replay_requests_total"))
    assert answered >= fuzzer.replay_requests > 0

    # trading goes on: new orders and new fills after all of it
    fills, places = trading(fuzzed)
    wait_for("fills and orders after the fuzzing",
             lambda: all(now > then for now, then in zip(trading(counters(stack)), (fills, places), strict=True)))
    assert stack.stop() == dict.fromkeys(ServiceName, 0)


def intents_out_of_order(fuzzer: Fuzzer) -> None:
    """Intents whose seq goes backwards, with any numbers in them, then some of them again with an even
    older seq: each is judged on its own (risk keeps no order of seqs), a re-sent intent id is a
    duplicate, and cancels, which risk passes for anyone, reach the adapter and are refused there."""
    sock = fuzzer.senders["intents"]
    actions = st.sampled_from([IntentAction.NEW, IntentAction.AMEND, IntentAction.CANCEL])
    int64 = st.integers(-(2**63), 2**63 - 1)

    @FEW
    @given(seqs=st.lists(st.integers(0, 2**63 - 1), min_size=2, max_size=6, unique=True),
           actions=st.lists(actions, min_size=6, max_size=6), qty=int64, price_e4=int64,
           symbol=st.text(max_size=12), resend=st.integers(1, 6))
    def backwards(seqs: list[int], actions: list[IntentAction], qty: int, price_e4: int, symbol: str,
                  resend: int) -> None:
        n = next(fuzzer.ids)
        sent = []
        for i, seq in enumerate(sorted(seqs, reverse=True)):
            intent = fuzzer.stranger_intent(intent_id=f"{STRANGER}.ooo.{n}.{i}", seq=seq, action=actions[i],
                                            qty=qty, price_e4=price_e4, symbol=symbol)
            sent.append((intent, Reason.STRATEGY_DISABLED))
        for intent, _ in list(sent[:resend]):
            sent.append((msgspec.structs.replace(intent, seq=0), Reason.DUPLICATE_INTENT))
        for intent, _ in sent:
            sock.send_multipart((b"intent", encode(intent)))
        for intent, reason in sent:
            if intent.action is IntentAction.CANCEL:
                report = fuzzer.report_for(intent.client_order_id)
                assert (report.exec_type, report.reason) == (ExecType.CANCEL_REJECT, Reason.UNKNOWN_ORDER)
                fuzzer.refused_unknown_order += 1
            else:
                decision = fuzzer.decision_for(intent.intent_id)
                assert (decision.approved, decision.reason) == (False, reason), decision
                fuzzer.rejects[reason] += 1

    backwards()


def replay_ranges(fuzzer: Fuzzer) -> None:
    """ExecReplayRequests with any range: a nonsense one is counted bad, every other answered with the
    journal's reports inside it, ascending, and the newest seq published."""
    target = TARGETS["exec_replay"]
    sock = fuzzer.senders["exec_replay"]
    seqs = st.integers(-(2**63), 2**64 - 1) | st.sampled_from([-1, 0, 1, 2, 2**63 - 1, 2**63, 2**64 - 1])

    @FUZZ
    @given(ranges=st.lists(st.tuples(seqs, seqs), min_size=1, max_size=6))
    def nonsense(ranges: list[tuple[int, int]]) -> None:
        n = next(fuzzer.ids)
        asked = []
        for i, (first_seq, last_seq) in enumerate(ranges):
            request = ExecReplayRequest(request_id=f"range-{n}-{i}", first_seq=first_seq, last_seq=last_seq)
            frames = [b"exec_replay_req", encode(request)]
            sock.send_multipart(frames)
            if target.is_bad(frames):
                fuzzer.bad_sent["exec_replay"] += 1
            else:
                asked.append(request)
        for request in asked:
            reply = fuzzer.reply_on(sock, Decoder(ExecReplay), request.request_id, "adapter")
            fuzzer.replay_requests += 1
            assert (reply.first_seq, reply.last_seq) == (request.first_seq, request.last_seq)
            got = [report.seq for report in reply.reports]
            assert got == sorted(set(got))
            assert all(request.first_seq <= s <= min(request.last_seq, reply.last_published_seq) for s in got)
        fuzzer.answered("exec_replay")

    nonsense()


def unknown_verbs(fuzzer: Fuzzer) -> None:
    """A well-formed request control has no verb for is answered with an error, not counted as bad."""
    sock = fuzzer.senders["ops"]

    @FEW
    # a prefix no verb has: a made-up verb must never be one that acts (cancel_all, hold, ...)
    @given(verb=st.text(max_size=24).map(lambda v: f"no such verb {v}"),
           args=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
    def nonsense(verb: str, args: dict[str, str]) -> None:
        request = ControlRequest(request_id=f"verb-{next(fuzzer.ids)}", verb=verb, args=args)
        sock.send_multipart((b"request", encode(request)))
        reply = fuzzer.reply_on(sock, Decoder(ControlReply), request.request_id, "control")
        assert not reply.ok and reply.error

    nonsense()


def oversized(fuzzer: Fuzzer) -> None:
    """A frame over MAXMSGSIZE on each message socket: libzmq drops the sender's connection, which we
    see on our side; the service never sees the frame and counts nothing. Our socket reconnects and the
    service answers it again."""
    limit = fuzzer.stack.config.sockets.max_msg_size_bytes
    endpoints = fuzzer.stack.config.endpoints
    for target in TARGETS.values():
        sock = fuzzer.context.socket(target.kind)
        sock.setsockopt(zmq.LINGER, 0)
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.connect(getattr(endpoints, target.name))
        sock.send_multipart((target.tags[0].encode(), b"\x00" * (limit + 1)))
        assert monitor.poll(int(ANSWER_DEADLINE_S * 1000)), f"{target.name}: a frame over {limit} B kept " \
                                                             "its connection"
        fuzzer.answered(target.name, sock)
        sock.disable_monitor()
        monitor.close()
        sock.close()
    # the md XPUB: an XSUB's frame over the limit loses its connection too; after it, md still flows
    xsub = fuzzer.context.socket(zmq.XSUB)
    xsub.setsockopt(zmq.LINGER, 0)
    monitor = xsub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    xsub.connect(endpoints.md)
    xsub.send(b"\x02" + b"\x00" * limit)
    assert monitor.poll(int(ANSWER_DEADLINE_S * 1000)), "md: a frame over the limit kept its connection"
    xsub.send(b"\x01")  # subscribe to everything, over the new connection
    assert xsub.poll(int(ANSWER_DEADLINE_S * 1000)), f"no md after the reconnect; {fuzzer.service_state('feed')}"
    xsub.disable_monitor()
    monitor.close()
    xsub.close()


def into_publishers(fuzzer: Fuzzer) -> None:
    """Random frames upstream into every bound PUB (and the feed's XPUB): dropped by libzmq or ignored."""
    endpoints = fuzzer.stack.config.endpoints
    xsubs = {}
    for name in PUBLISHERS:
        xsub = fuzzer.context.socket(zmq.XSUB)
        xsub.setsockopt(zmq.LINGER, 0)
        xsub.connect(getattr(endpoints, name))
        xsubs[name] = xsub

    @FEW
    @given(name=st.sampled_from(PUBLISHERS), frames=st.lists(st.binary(max_size=256), min_size=1, max_size=4))
    def upstream(name: str, frames: list[bytes]) -> None:
        xsubs[name].send_multipart(frames)

    upstream()
    for target in TARGETS:  # each of these services read every frame sent before its answer
        fuzzer.answered(target)
    for xsub in xsubs.values():
        xsub.close()


def into_metrics_ports(fuzzer: Fuzzer) -> None:
    """Random bytes into each HTTP metrics port: answered or closed, and the next scrape is whole."""
    ports = fuzzer.stack.config.metrics_ports

    @FEW
    @given(service=st.sampled_from(SERVICES), payload=st.binary(max_size=512))
    def garbage(service: str, payload: bytes) -> None:
        with socket.create_connection(("127.0.0.1", ports[service]), timeout=ANSWER_DEADLINE_S) as conn:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass

    garbage()
    for service in SERVICES:
        assert "process_resident_memory_bytes" in families(scrape(ports[service])), service
