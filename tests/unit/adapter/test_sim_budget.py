"""The simulated broker's own limits: the order budget (250 calls per 10 s, then a suspension), the
call log tests measure it with, and a dropped session."""

from __future__ import annotations

import random

import pytest

from contracts.enums import ExecType, OrderStatus
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerRateLimited, BrokerSessionDown
from services.adapter.brokers.sim import max_calls_in_window
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.unit.adapter.test_sim_harness import LATENCY_NS, SimHarness, kinds

MS = 1_000_000


def small_budget(**overrides: object) -> SimHarness:
    """3 calls per second, then a 5 s suspension: small enough to break in a few calls."""
    return SimHarness(SimBrokerConfig(rate_cap=3, rate_window_ms=1_000, suspension_ms=5_000, **overrides))


def brute_force_max(times: list[int], window_ns: int) -> int:
    """The definition: at each call, the calls of the window that ends there."""
    return max((sum(1 for t in times if end - window_ns < t <= end) for end in times), default=0)


def test_max_calls_in_window_of_nothing_is_zero() -> None:
    assert max_calls_in_window([], 10) == 0


def test_calls_a_whole_window_apart_never_share_it() -> None:
    assert max_calls_in_window([0, 10, 20], 10) == 1
    assert max_calls_in_window([0, 9, 18], 10) == 2


def test_max_calls_in_window_matches_the_definition_on_unsorted_times() -> None:
    rng = random.Random(5)
    for _ in range(50):
        times = [rng.randrange(0, 1_000) for _ in range(rng.randrange(1, 40))]
        assert max_calls_in_window(times, 100) == brute_force_max(times, 100)


def test_every_budget_call_is_logged_with_its_time_action_and_order() -> None:
    sim = SimHarness()
    start = sim.clock.mono_ns()
    sim.place("o1", price="995")
    sim.advance(MS)
    sim.broker.amend_price("o1", to_e4("990"))
    sim.broker.reduce_qty("o1", 1)
    sim.broker.query("o1")
    sim.broker.cancel("o1")
    sim.broker.open_orders()
    assert sim.broker.call_log == [
        (start, "place", "o1"), (start + MS, "amend_price", "o1"), (start + MS, "reduce_qty", "o1"),
        (start + MS, "query", "o1"), (start + MS, "cancel", "o1"),
    ]


def test_the_call_over_the_cap_is_refused_like_shioaji_and_sends_nothing() -> None:
    sim = small_budget()
    for k in range(3):
        sim.place(f"o{k}", price="990")
    with pytest.raises(BrokerRateLimited, match="Token is expired"):
        sim.place("over", price="990")
    sim.advance()
    assert sorted(event.client_order_id for event in sim.events) == ["o0", "o1", "o2"]
    assert "over" not in sim.broker.place_counts()
    assert [client_order_id for _, _, client_order_id in sim.broker.call_log] == ["o0", "o1", "o2", "over"]


def test_a_broken_budget_suspends_every_call_until_the_suspension_ends() -> None:
    sim = small_budget()
    for k in range(3):
        sim.place(f"o{k}", price="990")
    with pytest.raises(BrokerRateLimited):
        sim.place("o3", price="990")
    sim.advance(4_900 * MS)
    with pytest.raises(BrokerRateLimited, match="suspended"):
        sim.broker.cancel("o0")
    with pytest.raises(BrokerRateLimited):
        sim.broker.query("o0")
    sim.advance(100 * MS)
    sim.broker.cancel("o0")
    assert kinds(sim.advance()) == [ExecType.CANCELLED]


def test_calls_spread_across_windows_stay_within_the_budget() -> None:
    sim = small_budget()
    for second in range(3):
        for k in range(3):
            sim.place(f"o{second}.{k}", price="990")
        sim.advance(1_000 * MS)
    times = [mono_ns for mono_ns, _, _ in sim.broker.call_log]
    assert len(times) == 9
    assert max_calls_in_window(times, 1_000 * MS) == 3


def test_refused_calls_count_against_the_budget_too() -> None:
    """Hammering a suspended broker keeps it suspended: the calls still reach it."""
    sim = small_budget()
    for k in range(3):
        sim.place(f"o{k}", price="990")
    with pytest.raises(BrokerRateLimited):
        sim.place("o3", price="990")
    sim.advance(4_500 * MS)
    for k in range(3):
        with pytest.raises(BrokerRateLimited):
            sim.broker.query(f"o{k}")
    sim.advance(600 * MS)
    with pytest.raises(BrokerRateLimited, match="4 order calls"):
        sim.broker.query("o0")


def test_a_session_down_from_the_config_refuses_every_call_and_logs_none() -> None:
    sim = SimHarness(SimBrokerConfig(session_down=True))
    with pytest.raises(BrokerSessionDown):
        sim.place("o1")
    with pytest.raises(BrokerSessionDown):
        sim.broker.cancel("o1")
    with pytest.raises(BrokerSessionDown):
        sim.broker.open_orders()
    assert sim.broker.call_log == []
    sim.broker.set_session_down(False)
    sim.place("o1")
    assert kinds(sim.advance()) == [ExecType.ACK]


def test_answers_due_while_the_session_is_down_are_lost_but_the_order_is_live() -> None:
    sim = SimHarness()
    sim.place("o1", price="995")
    sim.broker.set_session_down(True)
    with pytest.raises(BrokerSessionDown):
        sim.broker.query("o1")
    assert sim.advance() == []
    sim.broker.set_session_down(False)
    assert sim.query("o1").status is OrderStatus.WORKING
    assert sim.advance(10 * LATENCY_NS) == []

