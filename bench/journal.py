"""What journaling costs the adapter per commit: services.adapter.journal on a real file.

    python -m bench.journal [--samples 20000] [--dir var]

For each durability ("process", the default, and "power"; power with a tenth of the samples, each
commit an fsync), three shapes, each timed from the first record call to the end of commit():
- a NEW: record_command + save_order + commit, what precedes the broker call of a lone order;
- ten commands committed together (a burst the order manager batches), also given per command;
- one broker answer: record_event + save_order + record_report, committed together.
The checkpoints the journal asks for are run between calls, as the adapter's loop runs them when
idle, and timed apart: they are off the order's path. Payloads are real encoded OrderCommands and
ExecutionReports. The file lives in a temporary directory under --dir (default: the repo's var/,
where the stack keeps its journal), so the figures are those of that filesystem. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from contracts.codec import encode
from contracts.enums import BrokerAction, ExecType, IntentAction, OrderStatus, Side
from contracts.messages import ExecutionReport, OrderCommand
from services.adapter.journal import CHECKPOINT_AFTER_COMMITS, Journal
from services.runtime.clock import SystemClock
from services.runtime.config.order_adapter import JournalDurability

REPO = Path(__file__).resolve().parents[1]
BATCH = 10


def command(n: int) -> tuple[str, bytes]:
    client_order_id = f"mm1.19a3f0c2b11.{n}"
    return client_order_id, encode(OrderCommand(
        intent_id=client_order_id, strategy_id="mm1", action=IntentAction.NEW, client_order_id=client_order_id,
        symbol="2330", side=Side.BUY, qty=1, price_e4=10_450_000, ingest_ts_ns=time.monotonic_ns(),
        approved_mono_ns=time.monotonic_ns(), deadline_ns=time.monotonic_ns() + 500_000_000))


def report(n: int, seq: int) -> bytes:
    client_order_id = f"mm1.19a3f0c2b11.{n}"
    return encode(ExecutionReport(
        seq=seq, client_order_id=client_order_id, intent_id=client_order_id, strategy_id="mm1", symbol="2330",
        side=Side.BUY, exec_type=ExecType.ACK, status=OrderStatus.WORKING, price_e4=10_450_000, qty=1,
        cum_qty=0, leaves_qty=1, ts_ns=time.time_ns()))


class IdleWork:
    """Stands in for the loop's when_idle: keeps what the journal asks for, runs and times it between calls."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []
        self.costs: list[float] = []

    def run(self) -> None:
        for callback in self.waiting:
            started = time.perf_counter_ns()
            callback()
            self.costs.append((time.perf_counter_ns() - started) / 1000)
        self.waiting.clear()


def timed(samples: int, one: Callable[[int], None], idle: IdleWork) -> list[float]:
    """Microseconds of each call of `one(k)`, k = 0..samples-1, sorted; idle work runs untimed between calls."""
    costs = []
    for k in range(samples):
        started = time.perf_counter_ns()
        one(k)
        costs.append((time.perf_counter_ns() - started) / 1000)
        idle.run()
    costs.sort()
    return costs


def line(label: str, costs: list[float], per: int = 1) -> str:
    def at(share: float) -> float:
        return costs[min(len(costs) - 1, int(share * len(costs)))] / per

    return (f"{label:<50} p50 {at(0.5):7.1f} µs   p99 {at(0.99):7.1f} µs   "
            f"p99.9 {at(0.999):8.1f} µs   max {costs[-1] / per:8.1f} µs")


def shapes(scratch: Path, durability: JournalDurability, samples: int) -> None:
    """Time the three shapes on a fresh journal of this durability, and print them."""
    commands = [command(n) for n in range(samples * BATCH)]
    answer = report(0, 1)
    idle = IdleWork()
    journal = Journal(scratch / f"{durability}.sqlite", SystemClock(), durability=durability,
                      when_idle=idle.waiting.append)
    try:
        def new(k: int) -> None:
            client_order_id, payload = commands[k]
            journal.record_command(client_order_id, BrokerAction.PLACE, payload)
            journal.save_order(client_order_id, payload)
            journal.commit()

        def batch(k: int) -> None:
            for client_order_id, payload in commands[k * BATCH:(k + 1) * BATCH]:
                journal.record_command(client_order_id, BrokerAction.PLACE, payload)
            journal.commit()

        def broker_answer(k: int) -> None:
            client_order_id, payload = commands[k]
            journal.record_event(client_order_id, "ack", payload)
            journal.save_order(client_order_id, payload)
            journal.record_report(journal.last_report_seq() + 1, answer)
            journal.commit()

        timed(min(samples, 1000), new, idle)  # warm the statement cache and the file
        idle.costs.clear()
        one = timed(samples, new, idle)
        ten = timed(samples, batch, idle)
        answers = timed(samples, broker_answer, idle)
    finally:
        journal.close()
    print(f"durability {durability}: {samples} commits per shape, {len(commands[0][1])}-byte commands")
    print(line("  NEW: command + order + commit", one))
    print(line(f"  {BATCH} commands + one commit, per batch", ten))
    print(line(f"  {BATCH} commands + one commit, per command", ten, per=BATCH))
    print(line("  broker answer: event + order + report + commit", answers))
    print(line(f"  idle checkpoint (every {CHECKPOINT_AFTER_COMMITS} commits)", sorted(idle.costs)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000, help="commits timed per shape (power: a tenth)")
    parser.add_argument("--dir", type=Path, default=REPO / "var", help="where the temporary journal goes")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"journal in {args.dir.resolve()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        shapes(Path(scratch), "process", args.samples)
        shapes(Path(scratch), "power", max(1, args.samples // 10))


if __name__ == "__main__":
    main()
