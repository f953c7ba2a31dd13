"""The bench's per-hop split, read back from an adapter journal: md -> risk's approval, approval -> journaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.hops import hop_latencies_us
from contracts.codec import encode
from contracts.enums import IntentAction, Side
from contracts.messages import OrderCommand
from services.adapter.journal import Journal
from services.runtime.clock import FakeClock

WALL_MINUS_MONO_NS = 1_760_000_000_000_000_000 - 1_000_000_000


def place(journal: Journal, clock: FakeClock, n: int, ingest_ns: int, approved_after_ns: int,
          journaled_after_ns: int) -> None:
    """A NEW whose event left the feed at `ingest_ns` and is journaled when the clock gets there."""
    client_order_id = f"s.{n}"
    command = OrderCommand(
        intent_id=client_order_id, strategy_id="s", action=IntentAction.NEW, client_order_id=client_order_id,
        symbol="2330", side=Side.BUY, qty=1, price_e4=10_000_000, ingest_ts_ns=ingest_ns,
        approved_mono_ns=ingest_ns + approved_after_ns, deadline_ns=ingest_ns + 10**9)
    clock.advance(ingest_ns + approved_after_ns + journaled_after_ns - clock.mono_ns())
    journal.record_command(client_order_id, "place", encode(command))
    journal.commit()


def test_each_order_is_split_at_its_approval_and_warm_up_is_left_out(tmp_path: Path) -> None:
    clock = FakeClock()
    journal_file = tmp_path / "journal.sqlite"
    journal = Journal(journal_file, clock)
    start = clock.mono_ns()
    place(journal, clock, 0, start + 1_000, approved_after_ns=5_000_000, journaled_after_ns=5_000_000)  # warm-up
    for n in range(1, 4):
        place(journal, clock, n, clock.mono_ns() + 1_000, approved_after_ns=300_000, journaled_after_ns=100_000)
    journal.record_command("s.1", "cancel", b"s.1")
    journal.close()

    hops = hop_latencies_us(journal_file, since_mono_ns=start + 1_000, wall_minus_mono_ns=WALL_MINUS_MONO_NS)

    assert hops["md -> approved"] == {"n": 3, "p50": pytest.approx(300.0), "p99": pytest.approx(300.0)}
    assert hops["approved -> journaled"] == {"n": 3, "p50": pytest.approx(100.0), "p99": pytest.approx(100.0)}


def test_a_journal_without_placed_orders_has_no_hops(tmp_path: Path) -> None:
    journal_file = tmp_path / "journal.sqlite"
    Journal(journal_file, FakeClock()).close()
    assert hop_latencies_us(journal_file, wall_minus_mono_ns=0) == {}
