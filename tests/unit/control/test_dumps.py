"""DumpRelay: a dump is asked of the service that holds it, relayed when it answers, answered for when it does not."""

from __future__ import annotations

from contracts.enums import OrderStatus, ServiceName, Side
from contracts.messages import (
    ControlCommand,
    ControlReply,
    ControlRequest,
    Heartbeat,
    OrderRow,
    OrdersDump,
)
from services.control.dumps import DumpRelay
from services.control.heartbeats import HeartbeatTracker
from services.runtime.clock import FakeClock

TIMEOUT_NS = 1_500_000_000


class Relay:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.tracker = HeartbeatTracker(self.clock, 3_000_000_000)
        self.commands: list[ControlCommand] = []
        self.replies: list[tuple[bytes, str, ControlReply]] = []
        self.relay = DumpRelay(self.clock, self.tracker, self.commands.append,
                               lambda identity, request, key, reply: self.replies.append((identity, key, reply)),
                               TIMEOUT_NS)

    def adapter_alive(self) -> None:
        self.tracker.on_heartbeat(Heartbeat(service=ServiceName.ADAPTER, pid=9, seq=1, ts_ns=0))


def request(request_id: str = "r1") -> ControlRequest:
    return ControlRequest(request_id=request_id, verb="orders_dump", who="ann@desk")


def test_the_adapters_answer_is_relayed_to_whoever_asked() -> None:
    r = Relay()
    r.adapter_alive()
    assert r.relay.ask(b"client-1", request(), "operator") is None
    assert [(c.verb, c.target, c.request_id) for c in r.commands] == [("dump_orders", "adapter", "r1")]
    row = OrderRow(client_order_id="c1", strategy_id="mm1", symbol="2330", side=Side.BUY,
                   status=OrderStatus.WORKING, price_e4=10_000_000, qty=1, cum_qty=0, leaves_qty=1)
    assert r.relay.on_dump(OrdersDump(request_id="r1", orders=[row], gate=["hold_fire"], ts_ns=5))
    identity, key, reply = r.replies[0]
    assert (identity, key, reply.ok, reply.request_id) == (b"client-1", "operator", True, "r1")
    assert reply.body["orders"][0]["client_order_id"] == "c1" and reply.body["gate"] == ["hold_fire"]
    assert "t" not in reply.body and "request_id" not in reply.body
    assert not r.relay.on_dump(OrdersDump(request_id="r1", orders=[], ts_ns=6)), "answered once"


def test_a_service_not_alive_is_not_asked() -> None:
    r = Relay()
    reply = r.relay.ask(b"c", request(), "operator")
    assert reply is not None and not reply.ok and "adapter is not heard from" in reply.error
    assert r.commands == []


def test_silence_is_answered_for_at_the_deadline() -> None:
    r = Relay()
    r.adapter_alive()
    r.relay.ask(b"c", request("r2"), "operator")
    r.clock.advance(TIMEOUT_NS - 1)
    r.relay.expire()
    assert r.replies == []
    r.clock.advance(1)
    r.relay.expire()
    reply = r.replies[0][2]
    assert not reply.ok and "adapter did not answer within 1.5s" in reply.error
    assert not r.relay.on_dump(OrdersDump(request_id="r2", orders=[], ts_ns=0)), "a late answer finds nobody"


def test_a_retried_dump_asks_once_and_answers_the_newest_connection() -> None:
    r = Relay()
    r.adapter_alive()
    assert r.relay.ask(b"client-old", request(), "operator") is None
    assert r.relay.ask(b"client-new", request(), "operator") is None
    assert len(r.commands) == 1, "the service is asked once"
    assert r.relay.on_dump(OrdersDump(request_id="r1", orders=[], ts_ns=5))
    assert [(identity, reply.request_id) for identity, _, reply in r.replies] == [(b"client-new", "r1")]


def test_the_same_id_from_another_key_is_refused_and_the_first_still_answered() -> None:
    r = Relay()
    r.adapter_alive()
    r.relay.ask(b"a", request(), "operator")
    refused = r.relay.ask(b"b", request(), "ann")
    assert refused is not None and not refused.ok and "in use by another client" in refused.error
    assert len(r.commands) == 1
    assert r.relay.on_dump(OrdersDump(request_id="r1", orders=[], ts_ns=5))
    assert [(identity, key) for identity, key, _ in r.replies] == [(b"a", "operator")]
