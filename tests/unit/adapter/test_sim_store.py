"""The simulated broker outlives the adapter: with a state file, a new SimBroker on the same file (as
after a kill -9 and restart) has the same orders, call log, budget and ids; without one, nothing is
written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from contracts.enums import ExecType, OrderStatus, PriceType, Side, TimeInForce
from contracts.prices import to_e4
from services.adapter.brokers.base import BrokerRateLimited
from services.adapter.brokers.sim_store import SimLedger, SimOrder
from services.runtime.clock import FakeClock
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.unit.adapter.test_sim_harness import LATENCY_US, SimHarness, fills, kinds


def on_file(state_file: Path, before: SimHarness | None = None, **overrides: object) -> SimHarness:
    """A broker on `state_file`; after `before`, on its clock, as a restarted adapter on the same host would be.
    `before` is not closed: a killed process closes nothing."""
    config = SimBrokerConfig(ack_latency_us=LATENCY_US, state_file=state_file, **overrides)
    return SimHarness(config, clock=before.clock if before else None)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "broker" / "sim.sqlite"


@pytest.fixture
def before(state_file: Path) -> SimHarness:
    """A day so far: o1 rests (5 @ 995, 2 filled), o2 filled, o3 cancelled."""
    sim = on_file(state_file)
    sim.book(bids=[("990", 10)], asks=[("1000", 10)])
    sim.place("o1", qty=5, price="995")
    sim.place("o2", qty=1, price="1000")
    sim.place("o3", side=Side.SELL, qty=1, price="1010")
    sim.advance()
    sim.book(bids=[("990", 10)], asks=[("1000", 10)], last=("995", 2))
    sim.broker.cancel("o3")
    sim.advance()
    return sim


def test_a_restarted_broker_still_has_the_working_orders(state_file: Path, before: SimHarness) -> None:
    after = on_file(state_file, before)
    assert [(s.client_order_id, s.status, s.qty, s.cum_qty) for s in after.broker.open_orders()] == [
        ("o1", OrderStatus.PARTIALLY_FILLED, 5, 2)]
    assert after.broker.resting_count == 1


def test_a_restarted_broker_answers_queries_about_closed_orders(state_file: Path, before: SimHarness) -> None:
    after = on_file(state_file, before)
    assert (after.query("o2").status, after.query("o2").cum_qty) == (OrderStatus.FILLED, 1)
    assert after.query("o3").status is OrderStatus.CANCELLED
    assert after.query("o9").status is None


def test_working_orders_go_on_matching_after_a_restart_with_new_exec_ids(
    state_file: Path, before: SimHarness,
) -> None:
    earlier = {fill.exec_id for fill in fills(before.events)}
    after = on_file(state_file, before)
    deals = fills(after.book(bids=[("990", 10)], asks=[("995", 10)]))
    assert [(d.client_order_id, d.price_e4, d.qty) for d in deals] == [("o1", to_e4("995"), 3)]
    assert deals[0].exec_id not in earlier
    assert after.broker.open_orders() == []


def test_working_orders_can_be_cancelled_after_a_restart(state_file: Path, before: SimHarness) -> None:
    after = on_file(state_file, before)
    after.broker.cancel("o1")
    (cancelled,) = after.advance()
    assert (cancelled.kind, cancelled.qty) == (ExecType.CANCELLED, 3)
    assert on_file(state_file, after).broker.open_orders() == []


def test_the_call_log_continues_across_a_restart(state_file: Path, before: SimHarness) -> None:
    after = on_file(state_file, before)
    after.broker.query("o1")
    actions = [action for _, action, _ in after.broker.call_log]
    assert actions == ["place", "place", "place", "cancel", "query"]
    assert after.broker.call_log[:4] == before.broker.call_log


def test_place_counts_survive_a_restart_so_a_second_place_shows(state_file: Path, before: SimHarness) -> None:
    after = on_file(state_file, before)
    assert after.broker.place_counts() == {"o1": 1, "o2": 1, "o3": 1}
    after.place("o2")
    assert kinds(after.advance()) == [ExecType.REJECT]
    assert on_file(state_file, after).broker.place_counts()["o2"] == 2


def test_broker_order_ids_never_repeat_across_a_restart(state_file: Path, before: SimHarness) -> None:
    earlier = {event.broker_order_id for event in before.events}
    after = on_file(state_file, before)
    after.place("o4", price="990")
    (ack,) = after.advance()
    assert ack.broker_order_id not in earlier


def test_the_budget_and_a_suspension_outlive_a_restart(state_file: Path) -> None:
    budget = {"rate_cap": 2, "rate_window_ms": 1_000, "suspension_ms": 5_000}
    sim = on_file(state_file, **budget)
    sim.place("o1", price="990")
    sim.place("o2", price="990")
    with pytest.raises(BrokerRateLimited):
        on_file(state_file, sim, **budget).place("o3", price="990")
    sim.advance(2_000_000_000)
    with pytest.raises(BrokerRateLimited, match="suspended"):
        on_file(state_file, sim, **budget).broker.query("o1")


def test_after_a_reboot_the_last_boots_budget_and_suspension_no_longer_count(state_file: Path) -> None:
    budget = {"rate_cap": 2, "rate_window_ms": 1_000, "suspension_ms": 5_000}
    sim = on_file(state_file, before=SimHarness(clock=FakeClock(mono_ns=3_600_000_000_000)), **budget)
    sim.place("o1", price="990")
    sim.place("o2", price="990")
    assert [event.kind for event in sim.advance()] == [ExecType.ACK, ExecType.ACK]
    with pytest.raises(BrokerRateLimited):
        sim.place("o3", price="990")
    # The next morning: the host rebooted, so its monotonic clock reads far less than the file's stamps.
    rebooted = on_file(state_file, before=SimHarness(clock=FakeClock(mono_ns=60_000_000_000)), **budget)
    rebooted.place("o4", price="990")
    rebooted.place("o5", price="990")
    assert [event.kind for event in rebooted.advance()] == [ExecType.ACK, ExecType.ACK]
    assert {o.client_order_id for o in rebooted.broker.open_orders()} >= {"o1", "o2", "o4", "o5"}


def test_the_state_file_is_sqlite_in_wal_mode_with_one_row_per_order(state_file: Path, before: SimHarness) -> None:
    db = sqlite3.connect(state_file)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT client_order_id, places FROM orders ORDER BY client_order_id").fetchall() == [
        ("o1", 1), ("o2", 1), ("o3", 1)]
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone() == (4,)


def test_without_a_state_file_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sim = SimHarness()
    sim.place("o1", price="990")
    sim.advance()
    assert kinds(sim.events) == [ExecType.ACK]
    assert list(tmp_path.iterdir()) == []


def closed_order(client_order_id: str, ledger: SimLedger) -> SimOrder:
    return SimOrder(client_order_id, ledger.next_broker_order_id(), "2330", Side.BUY, to_e4("1000"), 1,
                    PriceType.LMT, TimeInForce.ROD, status=OrderStatus.CANCELLED)


def test_closed_orders_are_kept_bounded_newest_first(state_file: Path) -> None:
    ledger = SimLedger(state_file, closed_kept=2, calls_kept=10)
    ledger.add(SimOrder("live", ledger.next_broker_order_id(), "2330", Side.BUY, to_e4("990"), 1, PriceType.LMT,
                        TimeInForce.ROD))
    for client_order_id in ("c1", "c2", "c3"):
        ledger.add(closed_order(client_order_id, ledger))
    ledger.flush()
    assert [ledger.get(c) is not None for c in ("live", "c1", "c2", "c3")] == [True, False, True, True]
    reloaded = SimLedger(state_file, closed_kept=2, calls_kept=10)
    assert [reloaded.get(c) is not None for c in ("live", "c1", "c2", "c3")] == [True, False, True, True]


def test_the_call_log_in_memory_keeps_the_newest_calls_and_the_file_keeps_all(state_file: Path) -> None:
    sim = on_file(state_file, calls_kept=3)
    for n in range(5):
        sim.place(f"o{n}", price="990")
    sim.advance()
    assert [client_order_id for _, _, client_order_id in sim.broker.call_log] == ["o2", "o3", "o4"]
    assert sqlite3.connect(state_file).execute("SELECT COUNT(*) FROM calls").fetchone() == (5,)
    after = on_file(state_file, sim, calls_kept=3)
    assert [client_order_id for _, _, client_order_id in after.broker.call_log] == ["o2", "o3", "o4"]


def test_retention_forgets_closed_orders_never_working_ones() -> None:
    sim = SimHarness(SimBrokerConfig(ack_latency_us=LATENCY_US, closed_orders_kept=2, calls_kept=4))
    sim.book(bids=[("990", 10)], asks=[("1000", 10)])
    sim.place("resting", price="990")
    for n in range(10):
        sim.place(f"c{n}", price="980")
        sim.broker.cancel(f"c{n}")
    sim.advance()
    assert [s.client_order_id for s in sim.broker.open_orders()] == ["resting"]
    assert sorted(sim.broker.place_counts()) == ["c8", "c9", "resting"]
    assert len(sim.broker.call_log) == 4
    assert sim.query("c9").status is OrderStatus.CANCELLED
    assert sim.query("c0").status is None, "past the retention, as an order of another day"
    assert sim.query("resting").status is OrderStatus.WORKING


@pytest.mark.parametrize("field", ["closed_orders_kept", "calls_kept"])
def test_retention_must_keep_something(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SimBrokerConfig(**{field: 0})
