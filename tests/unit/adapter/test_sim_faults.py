"""Faults the real broker shows, on demand (one-shot hooks) and at seeded rates: calls whose outcome
is unknown, answers too late, exchange rejects, deals before the ack, duplicates, latency jitter."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts.enums import ExecType, OrderStatus
from services.adapter.brokers.base import BrokerEvent, BrokerOutcomeUnknown, BrokerRateLimited
from services.adapter.brokers.sim_faults import EXCHANGE_REJECTS
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.unit.adapter.test_sim_harness import LATENCY_NS, LATENCY_US, SimHarness, fills, kinds

MS = 1_000_000
LATE_MS = 3_000


def faulty(seed: int = 1, **rates: float | int) -> SimHarness:
    return SimHarness(SimBrokerConfig(ack_latency_us=LATENCY_US, late_answer_ms=LATE_MS, seed=seed, **rates))


def place_crossing(sim: SimHarness, client_order_id: str) -> list[BrokerEvent]:
    """A buy of 2 against a fresh book of one lot at each of two prices: it fills at once in two deals."""
    sim.book(bids=[("990", 5)], asks=[("1000", 1), ("1005", 1)])
    sim.place(client_order_id, qty=2, price="1005")
    return sim.advance()


def test_a_call_lost_before_the_broker_raises_and_leaves_no_trace() -> None:
    sim = SimHarness()
    sim.broker.fail_next(BrokerOutcomeUnknown("409 order outcome unknown"))
    with pytest.raises(BrokerOutcomeUnknown):
        sim.place("o1")
    assert sim.advance(10 * LATENCY_NS) == []
    assert sim.broker.call_log == []
    assert sim.query("o1").status is None
    assert sim.broker.place_counts() == {}


def test_an_unknown_outcome_that_went_live_raises_yet_the_order_is_acked() -> None:
    sim = SimHarness()
    sim.broker.fail_next(BrokerOutcomeUnknown("409 order outcome unknown"), went_live=True)
    with pytest.raises(BrokerOutcomeUnknown):
        sim.place("o1", price="995")
    assert kinds(sim.advance()) == [ExecType.ACK]
    assert sim.broker.place_counts() == {"o1": 1}
    assert [action for _, action, _ in sim.broker.call_log] == ["place"]


def test_each_call_takes_one_injected_failure() -> None:
    sim = SimHarness()
    sim.broker.fail_next(BrokerRateLimited("one"))
    sim.broker.fail_next(BrokerOutcomeUnknown("two"))
    with pytest.raises(BrokerRateLimited):
        sim.place("o1")
    with pytest.raises(BrokerOutcomeUnknown):
        sim.place("o2")
    sim.place("o3")
    assert [event.client_order_id for event in sim.advance()] == ["o3"]


def test_delayed_answers_come_late_while_the_order_is_live_and_fills_first() -> None:
    sim = SimHarness()
    sim.broker.delay_next_answers(LATE_MS * MS)
    sim.place("o1", qty=2, price="995")
    assert sim.advance() == []
    assert [state.client_order_id for state in sim.broker.open_orders()] == ["o1"]
    early = sim.book(bids=[("990", 5)], asks=[("995", 1)])
    assert kinds(early) == [ExecType.FILL]
    assert kinds(sim.advance(LATE_MS * MS - 2 * LATENCY_NS)) == []
    assert kinds(sim.advance(LATENCY_NS)) == [ExecType.ACK]


def test_delayed_answers_apply_to_one_call_only() -> None:
    sim = SimHarness()
    sim.broker.delay_next_answers(LATE_MS * MS)
    sim.place("late", price="995")
    sim.place("on_time", price="995")
    assert [event.client_order_id for event in sim.advance()] == ["on_time"]


def test_reject_next_rejects_one_new_order_with_the_exchange_message() -> None:
    sim = SimHarness()
    sim.broker.reject_next("價格超過漲跌停範圍")
    sim.broker.cancel("nothing")
    sim.place("o1")
    sim.place("o2")
    events = sim.advance()
    assert [(e.kind, e.client_order_id) for e in events] == [
        (ExecType.CANCEL_REJECT, "nothing"), (ExecType.REJECT, "o1"), (ExecType.ACK, "o2")]
    assert events[1].detail == "價格超過漲跌停範圍"
    assert sim.query("o1").status is OrderStatus.REJECTED


def test_deals_before_ack_delivers_the_fills_first_once() -> None:
    sim = SimHarness()
    sim.broker.deals_before_ack_next()
    assert kinds(place_crossing(sim, "o1")) == [ExecType.FILL, ExecType.FILL, ExecType.ACK]
    assert kinds(place_crossing(sim, "o2")) == [ExecType.ACK, ExecType.FILL, ExecType.FILL]


def test_duplicate_next_delivers_every_event_of_one_call_again_later_with_the_same_exec_id() -> None:
    sim = SimHarness()
    sim.broker.duplicate_next()
    first = place_crossing(sim, "o1")
    again = sim.advance()
    assert again == first
    assert [fill.exec_id for fill in fills(again)] == [fill.exec_id for fill in fills(first)]
    assert len(place_crossing(sim, "o2")) == 3
    assert sim.advance() == []


def test_a_query_answers_once_and_leaves_duplicate_next_to_the_next_order_call() -> None:
    sim = SimHarness()
    sim.broker.duplicate_next()
    sim.query("o1")
    sim.place("o1", price="995")
    sim.advance()
    assert sim.advance() == [sim.events[0]]
    assert len(sim.states) == 1


def test_reject_rate_rejects_about_its_share_with_exchange_messages() -> None:
    sim = faulty(seed=7, reject_rate=0.5)
    for k in range(200):
        sim.place(f"o{k}", price="990")
    rejects = [event for event in sim.advance() if event.kind is ExecType.REJECT]
    assert 60 <= len(rejects) <= 140
    assert {event.detail for event in rejects} <= set(EXCHANGE_REJECTS)


def test_timeout_rate_answers_about_its_share_exactly_late_answer_ms_after_the_call() -> None:
    sim = faulty(timeout_rate=0.3)
    for k in range(100):
        sim.place(f"o{k}", price="990")
    on_time = len(sim.advance())
    assert len(sim.advance(LATE_MS * MS - 2 * LATENCY_NS)) == 0
    late = len(sim.advance(LATENCY_NS))
    assert on_time + late == 100
    assert 15 <= late <= 45
    assert len(sim.broker.open_orders()) == 100


def test_deal_before_ack_rate_puts_fills_first_for_about_its_share() -> None:
    sim = faulty(deal_before_ack_rate=0.5)
    firsts = Counter(place_crossing(sim, f"o{k}")[0].kind for k in range(100))
    assert set(firsts) == {ExecType.ACK, ExecType.FILL}
    assert 25 <= firsts[ExecType.FILL] <= 75


def test_duplicate_rate_repeats_about_its_share_of_events() -> None:
    sim = faulty(duplicate_rate=0.3)
    for k in range(100):
        place_crossing(sim, f"o{k}")
    sim.advance()
    assert 300 * 1.15 <= len(sim.events) <= 300 * 1.45
    deals = Counter(fill.exec_id for fill in fills(sim.events))
    assert len(deals) == 200
    assert set(deals.values()) == {1, 2}


def test_jitter_spreads_answers_over_the_configured_range() -> None:
    sim = faulty(latency_jitter_us=1_000)
    start = sim.clock.mono_ns()
    for k in range(50):
        sim.place(f"o{k}", price="990")
    sim.advance(LATENCY_NS + MS)
    delays = [time_ns - start for time_ns in sim.event_times]
    assert len(delays) == 50
    assert LATENCY_NS <= min(delays) < max(delays) <= LATENCY_NS + MS


def test_the_tail_delays_about_its_share_of_calls_by_exactly_its_latency() -> None:
    tail_ns = 50 * MS
    sim = faulty(tail_rate=0.25, tail_latency_us=tail_ns // 1000)
    delays = []
    for k in range(400):  # one call at a time: a call in the tail holds back the calls behind it
        start = sim.clock.mono_ns()
        sim.place(f"o{k}", price="990")
        sim.advance(LATENCY_NS + tail_ns)
        delays.append(sim.event_times[-1] - start)
    assert set(delays) == {LATENCY_NS, LATENCY_NS + tail_ns}
    assert 0.18 <= delays.count(LATENCY_NS + tail_ns) / len(delays) <= 0.32


def test_a_call_in_the_tail_holds_back_the_calls_made_after_it() -> None:
    """The broker answers in call order: the calls behind a slow one wait for it, as a gateway's queue does."""
    sim = faulty(tail_rate=1.0, tail_latency_us=50_000)
    start = sim.clock.mono_ns()
    sim.place("o1", price="990")
    sim.place("o2", price="990")
    sim.advance(LATENCY_NS + 50 * MS)
    assert [t - start for t in sim.event_times] == [LATENCY_NS + 50 * MS] * 2


def scenario(seed: int) -> list[tuple[ExecType, str, int]]:
    """Every fault at once, for a seed: what arrived and when."""
    sim = faulty(seed=seed, latency_jitter_us=500, reject_rate=0.2, timeout_rate=0.2, deal_before_ack_rate=0.3,
                 duplicate_rate=0.2)
    for k in range(40):
        place_crossing(sim, f"o{k}")
    sim.advance(LATE_MS * MS)
    return [(event.kind, event.client_order_id, time_ns) for event, time_ns in zip(sim.events, sim.event_times,
                                                                                    strict=True)]


def test_a_seed_reproduces_its_faults_exactly() -> None:
    assert scenario(3) == scenario(3)
    assert scenario(3) != scenario(4)
