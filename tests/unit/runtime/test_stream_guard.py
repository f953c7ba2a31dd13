"""StreamGuard: asks for the heads on each heartbeat, judges each watched stream with them, remakes a dead
socket on the loop's next turn (never inside the answer), counts it, and says so in the heartbeat."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from prometheus_client import CollectorRegistry

from services.runtime.clock import FakeClock, ManualScheduler
from services.runtime.stream_guard import HeadsHandler, StreamGuard
from services.runtime.stream_watch import Heads

INTERVAL_NS = 1_000_000_000


class Service:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.scheduler = ManualScheduler(self.clock)
        self.registry = CollectorRegistry()
        self.guard = StreamGuard(self.clock, self.scheduler, structlog.get_logger(), self.registry)
        self.md_received: dict[bytes, int] = {}
        self.refreshed = 0
        self.remade: list[str] = []
        self.asked: list[list[str]] = []
        self.feed_topics: dict[str, int] = {"2330": 0}
        self.beat = 10
        self.guard.watch("md", [b"2330"], lambda: self.md_received, lambda: self.remade.append("md"),
                         refresh=self.refresh)

    def refresh(self) -> None:
        self.refreshed += 1

    def ask(self, streams: list[str], on_heads: HeadsHandler) -> bool:
        self.asked.append(streams)
        self.beat += 1
        on_heads({"md": Heads(epoch=1, beat=self.beat, topics=dict(self.feed_topics))})
        return True

    def heartbeat(self) -> None:
        self.clock.advance(INTERVAL_NS)
        self.guard.on_heartbeat()

    def metric(self, name: str) -> float | None:
        return self.registry.get_sample_value(name, {"socket": "md"})


def test_nothing_is_judged_until_someone_can_ask_for_the_heads() -> None:
    service = Service()
    for _ in range(10):
        service.feed_topics["2330"] += 10
        service.heartbeat()
    assert service.remade == [] and service.refreshed == 0


def test_a_dead_stream_is_remade_on_the_next_turn_counted_and_reported_until_it_is_back() -> None:
    service = Service()
    service.guard.ask = service.ask
    for _ in range(4):
        service.feed_topics["2330"] += 10
        service.heartbeat()
        assert service.remade == []
    service.feed_topics["2330"] += 10
    service.heartbeat()
    assert service.asked[-1] == ["md"]
    assert service.refreshed == 5, "a socket read on demand is read before it is judged"
    assert service.remade == [], "not inside the answer: the loop may be iterating over the old socket"
    assert service.scheduler.run_due() == 1
    assert service.remade == ["md"]
    assert service.metric("stream_reconnects_total") == 1
    assert service.metric("stream_dead") == 1
    (fresh,) = service.guard.freshness()
    assert fresh.stream == "md" and fresh.dead and fresh.reconnects == 1 and fresh.published_seq == 50

    service.md_received[b"2330"] = 51  # the new socket hears the feed
    service.heartbeat()
    assert service.metric("stream_dead") == 0
    assert not service.guard.freshness()[0].dead
    assert service.metric("stream_reconnects_total") == 1


def test_heads_without_the_stream_mean_no_live_publisher() -> None:
    service = Service()

    def ask_nothing(streams: list[str], on_heads: HeadsHandler) -> bool:
        empty: Mapping[str, Heads] = {}
        on_heads(empty)
        return True

    service.guard.ask = ask_nothing
    for _ in range(10):
        service.heartbeat()
    assert service.scheduler.run_due() == 0
    assert service.guard.freshness()[0].published_seq == -1


def test_answers_queued_while_control_was_away_count_as_one_heartbeat_not_as_many() -> None:
    service = Service()
    pending: list[HeadsHandler] = []

    def ask_later(streams: list[str], on_heads: HeadsHandler) -> bool:
        pending.append(on_heads)
        return True

    service.guard.ask = ask_later
    for _ in range(10):  # control is away: the questions queue on the DEALER
        service.heartbeat()
    for beat, answer in enumerate(pending, start=20):  # back, it answers them all at once, the feed advancing
        answer({"md": Heads(epoch=1, beat=beat, topics={"2330": 10 * beat})})
    assert service.refreshed == 1, "only the answer to the newest question is judged"
    assert service.scheduler.run_due() == 0 and service.remade == []
