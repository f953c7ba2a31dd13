"""What journaling costs the adapter per commit: services.adapter.journal on a real file.

    python -m bench.journal [--samples 20000] [--dir var]

Three shapes, each timed from the first record call to the end of commit():
- one command, committed alone (a lone order: record_command + commit before the broker call);
- ten commands committed together (a burst the order manager batches), also given per command;
- one broker answer: record_event + save_order + record_report, committed together.
Payloads are real encoded OrderCommands and ExecutionReports. The file lives in a temporary
directory under --dir (default: the repo's var/, where the stack keeps its journal), so the figures
are those of that filesystem. p99.9 and max show the WAL checkpoints SQLite runs inside a commit
every ~1000 pages. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from contracts.codec import encode
from contracts.enums import ExecType, IntentAction, OrderStatus, Side
from contracts.messages import ExecutionReport, OrderCommand
from services.adapter.journal import Journal
from services.runtime.clock import SystemClock

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


def timed(samples: int, one: Callable[[int], None]) -> list[float]:
    """Microseconds of each call of `one(k)`, k = 0..samples-1, sorted."""
    costs = []
    for k in range(samples):
        started = time.perf_counter_ns()
        one(k)
        costs.append((time.perf_counter_ns() - started) / 1000)
    costs.sort()
    return costs


def line(label: str, costs: list[float], per: int = 1) -> str:
    def at(share: float) -> float:
        return costs[min(len(costs) - 1, int(share * len(costs)))] / per

    return (f"{label:<46} p50 {at(0.5):7.1f} µs   p99 {at(0.99):7.1f} µs   "
            f"p99.9 {at(0.999):8.1f} µs   max {costs[-1] / per:8.1f} µs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000, help="commits timed per shape")
    parser.add_argument("--dir", type=Path, default=REPO / "var", help="where the temporary journal goes")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    commands = [command(n) for n in range(args.samples * BATCH)]
    answer = report(0, 1)

    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        journal = Journal(Path(scratch) / "adapter-journal.sqlite", SystemClock())
        try:
            def single(k: int) -> None:
                client_order_id, payload = commands[k]
                journal.record_command(client_order_id, "place", payload)
                journal.commit()

            def batch(k: int) -> None:
                for client_order_id, payload in commands[k * BATCH:(k + 1) * BATCH]:
                    journal.record_command(client_order_id, "place", payload)
                journal.commit()

            def broker_answer(k: int) -> None:
                client_order_id, payload = commands[k]
                journal.record_event(client_order_id, "ack", payload)
                journal.save_order(client_order_id, payload)
                journal.record_report(journal.last_report_seq() + 1, answer)
                journal.commit()

            timed(1000, single)  # warm the statement cache and the file
            one = timed(args.samples, single)
            ten = timed(args.samples, batch)
            answers = timed(args.samples, broker_answer)
        finally:
            journal.close()

    print(f"journal in {args.dir.resolve()}, {args.samples} commits per shape, {len(commands[0][1])}-byte commands")
    print(line("one command + commit", one))
    print(line(f"{BATCH} commands + one commit, per batch", ten))
    print(line(f"{BATCH} commands + one commit, per command", ten, per=BATCH))
    print(line("broker answer: event + order + report + commit", answers))


if __name__ == "__main__":
    main()
