"""StreamWatch: a stream quiet while its publisher advanced on a topic it takes is dead; a quiet publisher,
topics not taken, a message in flight, a publisher's first beats and one that is down are not."""

from __future__ import annotations

import pytest

from services.runtime.clock import FakeClock
from services.runtime.stream_watch import Heads, StreamWatch, Verdict

INTERVAL_NS = 1_000_000_000
EPOCH = 1_700_000_000_000_000_000


class Desk:
    """One subscriber's view, one heartbeat interval per `check`: what its socket received and what control
    says its publisher is at."""

    def __init__(self, prefixes: list[bytes], *, silent_checks: int = 4) -> None:
        self.clock = FakeClock()
        self.watch = StreamWatch("md", prefixes, self.clock, silent_checks=silent_checks)
        self.received: dict[bytes, int] = {}
        self.topics: dict[str, int] = {}
        self.epoch = EPOCH
        self.beat = 10
        self.live = True

    def publish(self, topic: str, count: int = 1) -> None:
        self.topics[topic] = self.topics.get(topic, 0) + count

    def deliver(self, topic: str) -> None:
        self.received[topic.encode()] = self.topics[topic]

    def restart_publisher(self) -> None:
        self.epoch += 60 * INTERVAL_NS
        self.beat = 1
        self.topics = {}

    def check(self) -> Verdict:
        self.clock.advance(INTERVAL_NS)
        self.beat += 1
        heads = Heads(epoch=self.epoch, beat=self.beat, topics=dict(self.topics)) if self.live else None
        return self.watch.check(self.received, heads)


def test_a_stream_that_flows_is_fresh_every_heartbeat() -> None:
    desk = Desk([b"2330"])
    for _ in range(20):
        desk.publish("2330", 50)
        desk.deliver("2330")
        assert desk.check() is Verdict.FRESH
    assert desk.watch.reconnects == 0


def test_a_deaf_socket_is_dead_after_the_silent_heartbeats_and_back_when_something_arrives() -> None:
    desk = Desk([b"2330"])
    for _ in range(5):
        desk.publish("2330", 50)
        desk.deliver("2330")
        desk.check()
    verdicts = []
    for _ in range(4):
        desk.publish("2330", 50)  # the publisher goes on; nothing reaches the socket any more
        verdicts.append(desk.check())
    assert verdicts == [Verdict.QUIET, Verdict.QUIET, Verdict.QUIET, Verdict.DEAD]
    assert desk.watch.dead and desk.watch.reconnects == 1
    fresh = desk.watch.freshness()
    assert fresh.dead and fresh.reconnects == 1
    assert fresh.received_seq == 250 and fresh.published_seq == 450
    assert fresh.age_ms == 4_000  # the last check that saw something new was four intervals ago

    desk.publish("2330", 50)
    desk.deliver("2330")  # the socket made again hears the publisher
    assert desk.check() is Verdict.BACK
    assert not desk.watch.dead and not desk.watch.freshness().dead
    assert desk.watch.freshness().age_ms == 0


def test_a_socket_that_stays_deaf_is_made_again_after_it_settles_and_is_silent_again() -> None:
    desk = Desk([b"2330"])
    verdicts = []
    for _ in range(12):
        desk.publish("2330", 50)
        verdicts.append(desk.check())
    # Never heard: dead once the first heads that count (the third check) advanced, at the fifth check;
    # after the remake, two checks settle, and the same again.
    assert verdicts[:5] == [Verdict.QUIET] * 4 + [Verdict.DEAD]
    assert verdicts[5:10] == [Verdict.QUIET] * 4 + [Verdict.DEAD]
    assert desk.watch.reconnects == 2


def test_a_quiet_publisher_is_never_owed_anything() -> None:
    desk = Desk([b""])
    desk.publish("2330", 10)
    desk.deliver("2330")
    assert desk.check() is Verdict.FRESH
    assert {desk.check() for _ in range(50)} == {Verdict.QUIET}
    assert desk.watch.reconnects == 0
    assert desk.watch.freshness().age_ms == 50_000


def test_what_the_subscriber_did_not_subscribe_to_is_never_owed() -> None:
    desk = Desk([b"2330"])  # a runner whose strategies trade 2330 only; 2330 does not trade for a while
    desk.publish("2330", 3)
    desk.deliver("2330")
    desk.check()
    for _ in range(20):
        desk.publish("2317", 100)
        desk.publish("instrument.2330")  # a prefix of 2330's subscription it is not: not taken
        assert desk.check() is Verdict.QUIET
    assert desk.watch.freshness().published_seq == 3
    desk.publish("2330")
    desk.check()
    desk.publish("2330")
    assert desk.check() is Verdict.DEAD


def test_a_message_still_in_flight_at_a_check_is_not_owed() -> None:
    desk = Desk([b"2330"])
    desk.publish("2330")
    desk.deliver("2330")
    desk.check()
    for _ in range(10):
        assert desk.check() is Verdict.QUIET
    desk.publish("2330")  # sent just before the publisher's heartbeat: the heads say so before it arrives
    assert desk.check() is Verdict.QUIET
    desk.deliver("2330")
    assert desk.check() is Verdict.FRESH
    assert desk.watch.reconnects == 0


def test_a_publisher_that_is_down_is_owed_nothing_and_its_first_beats_after_a_restart_are_no_baseline() -> None:
    desk = Desk([b"2330"])
    desk.publish("2330", 100)
    desk.deliver("2330")
    desk.check()
    desk.live = False
    assert {desk.check() for _ in range(10)} == {Verdict.QUIET}
    assert desk.watch.freshness().published_seq == -1

    desk.live = True
    desk.restart_publisher()  # beat 2 at the first check
    verdicts = []
    for _ in range(4):
        desk.publish("2330", 5)
        verdicts.append(desk.check())
    # beats 2 and 3 are its run's first: the advance from beat 3 to 4 counts, seen at beat 5's check
    assert verdicts == [Verdict.QUIET, Verdict.QUIET, Verdict.QUIET, Verdict.DEAD]


def test_a_restarted_publisher_whose_seqs_went_back_is_still_owed_what_it_sends() -> None:
    desk = Desk([b"2330"])
    desk.publish("2330", 5_000)
    desk.deliver("2330")
    desk.check()
    desk.restart_publisher()  # seqs start again at 1, far below what the socket last received
    verdicts = []
    for _ in range(5):
        desk.publish("2330", 30)
        verdicts.append(desk.check())
    assert Verdict.DEAD in verdicts
    assert desk.watch.freshness().received_seq == 5_000


def test_a_restarted_publisher_that_is_heard_again_is_fresh() -> None:
    desk = Desk([b"2330"])
    desk.publish("2330", 5_000)
    desk.deliver("2330")
    desk.check()
    desk.restart_publisher()
    for _ in range(10):
        desk.publish("2330", 30)
        desk.deliver("2330")
        assert desk.check() is Verdict.FRESH
    assert desk.watch.freshness().received_seq == desk.watch.freshness().published_seq == 300


def test_more_silent_heartbeats_wait_longer() -> None:
    desk = Desk([b"2330"], silent_checks=6)
    desk.publish("2330")
    desk.deliver("2330")
    desk.check()
    verdicts = []
    for _ in range(6):
        desk.publish("2330")
        verdicts.append(desk.check())
    assert verdicts == [Verdict.QUIET] * 5 + [Verdict.DEAD]


def test_fewer_than_three_silent_heartbeats_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        StreamWatch("md", [b""], FakeClock(), silent_checks=2)
