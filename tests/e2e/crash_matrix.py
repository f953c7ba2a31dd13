"""The crash and replace matrix (issue 14, item 6): each service killed with SIGKILL and started again, under
`orderpath up`'s supervision and by hand, and what must hold afterwards.

A cell is one service (feed, strategy, risk, adapter, control) in one mode:

- `supervised`: the launcher starts it again; the test calls `LocalStack.supervise()` in every wait, as
  `orderpath up` does ten times a second (backoff, restart, the launcher's log lines);
- `hand`: nobody watches; after the kill the same command line is started again
  (`LocalStack.restart_service`, i.e. `orderpath run NAME` with the stack's environment), as an operator
  would.

Each cell runs a stack of its own, real processes on loopback, in a folder of its own: two Quoters (`mm1`
with capital so large that it always trades, so orders flow after the restart; `mm2` on the default
10 M TWD, whose drawdown moves StormGuard) and a Rester whose orders rest at the broker, the simulated
broker keeping its state in a file (`sim.state_file`) as a real broker outlives its client. Once orders have
filled and others rest at the broker:

1. the market is frozen around the kill, so levels and drawdowns can be compared: `ctl hold` (no new
   order), the feed stopped (SIGTERM: no mark moves), until the desk settles (two risk dumps alike, risk's
   positions the journal's and the broker's, risk's state file written since); that is *before*. The feed's
   own cell is the exception: its kill is the market stopping mid-stream, so only the hold is set;
2. SIGKILL the service; *recovery* is from the kill until control hears the new process alive with its order
   sockets connected (for control: until the new control answers and hears every service again);
3. *after*, once risk has caught up (`replaying` false) and two dumps agree: every scope's level, risk's own
   level and drawdown equal to *before* (±0.01 pp), positions per strategy and symbol as before (the feed's
   cell shows the levels' comparison but holds to neither: the market moved, and orders resting at the
   broker filled as it moved);
4. the feed started again, the desk still holding fire: risk refuses the strategies' intents and nothing new
   reaches the broker, whatever was restarted; then `ctl resume`: *first order* is the time until the broker
   sees a new order placed; more than FLOW_WITHIN_S fails the cell;
5. trading a little, then the market frozen again, and from the files: risk's positions = the journal's
   fills = the broker's positions; no client order id placed twice at the broker; none lost (every order the
   journal placed has a final answer, or works at the broker and is open in the journal, none is left
   `pending_new`, and the broker has none the journal does not know); control counts the restart
   (`ctl status`), and under supervision the launcher made exactly one.

Run every cell and print the table (about two minutes; a cell took 5 to 20 s on a loaded 2-core machine):

    .venv/bin/python -m tests.e2e.crash_matrix                   # all ten cells
    .venv/bin/python -m tests.e2e.crash_matrix risk:supervised control:hand --keep
    .venv/bin/python -m tests.e2e.crash_matrix --live            # killed while trading, orders in flight

`--live` kills each service while the desk trades (no hold, the feed running, orders in flight between every
hop) and freezes the market only after the restart: every check but the levels' (the market moved them).

tests/e2e/test_crash_matrix.py runs some cells in CI. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.codec import Decoder
from contracts.enums import TERMINAL_STATUSES, ExecType, OrderStatus, ServiceName, Side
from contracts.messages import ExecutionReport
from services.adapter.order_map import decode_order
from services.adapter.session import under_var
from services.control.client import ControlUnreachable
from services.launcher import LocalStack, StackError
from services.launcher import _ready as ready  # alive and connected, as the launcher waits for it
from tests.e2e.control_helpers import ctl
from tests.e2e.stack_config import QUOTER, REPO, RESTER, never_drawn_down, write_stack_config
from tests.e2e.test_adapter_crash import JOURNAL_FILE, broker_calls, open_in_journal, rows, working_at_broker
from tests.e2e.test_replace_risk import DRAWDOWN_TOLERANCE_PP
from tests.e2e.test_replace_service import ORDER_ADAPTER, STATE_FILE, broker_positions
from tests.e2e.waiting import DEADLINE_S, wait_until

SERVICES = (ServiceName.FEED, ServiceName.STRATEGY, ServiceName.RISK, ServiceName.ADAPTER, ServiceName.CONTROL)
MODES = ("supervised", "hand")
FLOW_WITHIN_S = 15.0
"""Orders must reach the broker again within this long after `resume` with the feed back (stated, and checked)."""
PLACES_BEFORE_FREEZE = 20
PLACES_AFTER_RESUME = 5
STRATEGIES = [
    never_drawn_down(QUOTER),                   # mm1: always trading, so orders flow after every restart
    {**QUOTER, "id": "mm2"},                    # 10 M TWD: its drawdown moves StormGuard
    never_drawn_down(RESTER),                   # rest1: orders resting at the broker through every kill
]
_TERMINAL = frozenset(str(status) for status in TERMINAL_STATUSES)
_WORKING = frozenset({str(OrderStatus.WORKING), str(OrderStatus.PARTIALLY_FILLED)})
_REPORTS = Decoder(ExecutionReport)
_REQUEST_REFUSALS = frozenset({ExecType.AMEND_REJECT, ExecType.CANCEL_REJECT})
"""Reports of an amend or cancel refused: their status is not the order's last word (an amend refused as too
late after the fill reads `rejected`, cum_qty 0)."""


@dataclass
class CellResult:
    service: ServiceName
    mode: str
    recovery_s: float | None = None
    first_order_s: float | None = None
    stormguard: str = "-"
    """Before the kill, each scope off NORMAL or drawn down: what the comparison is about."""
    levels_equal: bool | None = None
    positions_equal: bool | None = None
    duplicates: int | None = None
    lost: int | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail(self, why: str) -> None:
        self.failures.append(why)


# -- what the desk holds, from risk, the journal and the broker


def risk_dump(stack: LocalStack) -> dict[str, Any] | None:
    """`ctl risk dump --json`, or None while control or risk cannot answer (one of them restarting)."""
    done = ctl(stack.stack_file, "risk", "dump", "--json")
    return json.loads(done.stdout) if done.exit_code == 0 else None


def levels(risk: dict[str, Any]) -> dict[str, tuple[str, str, float]]:
    """Per scope: the level in force, risk's own level, the drawdown in percent."""
    return {scope["scope"]: (scope["level"], scope["own_level"], scope["drawdown_pct"]) for scope in risk["scopes"]}


def levels_alike(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The same levels per scope, and drawdowns within DRAWDOWN_TOLERANCE_PP."""
    old, new = levels(before), levels(after)
    return old.keys() == new.keys() and all(
        old[scope][:2] == new[scope][:2] and abs(old[scope][2] - new[scope][2]) <= DRAWDOWN_TOLERANCE_PP
        for scope in old)


def summary(risk: dict[str, Any]) -> str:
    """Scopes off NORMAL or drawn down, e.g. `mm2 WARM 0.67%`; `all NORMAL 0%` when none."""
    shown = [f"{scope} {level} {drawdown:.2f}%" for scope, (level, _, drawdown) in levels(risk).items()
             if level != "NORMAL" or drawdown >= DRAWDOWN_TOLERANCE_PP]
    return ", ".join(shown) or "all NORMAL 0%"


def positions(risk: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Risk's position per (strategy, symbol), flat ones left out."""
    return {(row["strategy_id"], row["symbol"]): row["position"] for row in risk["positions"] if row["position"]}


def journal_reports(journal_file: Path) -> list[ExecutionReport]:
    return [_REPORTS.decode(payload) for (payload,) in rows(journal_file, "SELECT payload FROM reports ORDER BY seq")]


def journal_fills(reports: list[ExecutionReport]) -> dict[tuple[str, str], int]:
    """Net filled lots per (strategy, symbol) from the journal's execution reports."""
    net: dict[tuple[str, str], int] = {}
    for report in reports:
        if report.exec_type == ExecType.FILL:
            key = (report.strategy_id, report.symbol)
            net[key] = net.get(key, 0) + (report.last_qty if report.side == Side.BUY else -report.last_qty)
    return {key: qty for key, qty in net.items() if qty}


def by_symbol(per_strategy: dict[tuple[str, str], int]) -> dict[str, int]:
    net: dict[str, int] = {}
    for (_, symbol), qty in per_strategy.items():
        net[symbol] = net.get(symbol, 0) + qty
    return {symbol: qty for symbol, qty in net.items() if qty}


def duplicates_at_broker(broker_file: Path) -> list[str]:
    return [coid for (coid,) in rows(broker_file, "SELECT client_order_id FROM orders WHERE places > 1")]


def unanswered(journal_file: Path, broker_file: Path) -> list[str]:
    """Orders lost: placed by the journal with no final answer and not working at the broker (or working there
    but not open in the journal), left `pending_new` in the journal, or at the broker unknown to the journal."""
    placed = {coid for (coid,) in rows(journal_file, "SELECT DISTINCT client_order_id FROM commands "
                                                     "WHERE action = 'place'")}
    last: dict[str, str] = {}
    for report in journal_reports(journal_file):
        if report.exec_type not in _REQUEST_REFUSALS:
            last[report.client_order_id] = str(report.status)
    working, still_open = working_at_broker(broker_file), open_in_journal(journal_file)
    lost = {coid for coid in placed if last.get(coid) not in _TERMINAL
            and not (coid in working and coid in still_open and last.get(coid) in _WORKING)}
    lost |= {decode_order(payload).client_order_id for (payload,) in rows(journal_file, "SELECT payload FROM orders")
             if decode_order(payload).status == OrderStatus.PENDING_NEW}
    at_broker = {coid for (coid,) in rows(broker_file, "SELECT client_order_id FROM orders")}
    return sorted(lost | (at_broker - placed))


# -- one cell


class Cell:
    """One service killed and brought back in one mode, on a stack of its own in `folder`."""

    def __init__(self, service: ServiceName, mode: str, folder: Path, *, live: bool = False) -> None:
        self.service, self.mode, self.live = service, mode, live
        self.result = CellResult(service, f"{mode} live" if live else mode)
        self.stack = LocalStack(write_stack_config(folder, strategies=STRATEGIES, order_adapter=ORDER_ADAPTER),
                                env={"PYTHONPATH": str(REPO)})
        var = Path(self.stack.config.var_dir)
        self.broker_file, self.journal_file = var / STATE_FILE, var / JOURNAL_FILE
        self.risk_state = under_var(self.stack.config, self.stack.config.risk.state_file)
        self.killed: ServiceName | None = None
        """Killed and not yet started again: not a death."""

    def check(self) -> None:
        """Each round of every wait: under supervision the launcher's round (restart what exited); by hand, fail
        at once if a service died that was not killed on purpose."""
        if self.mode == "supervised":
            self.stack.supervise()
            return
        for name, process in self.stack.processes.items():
            if name != self.killed and process.popen.poll() is not None:
                raise StackError(f"{name} exited with code {process.popen.returncode}; see {process.log_path}")

    def wait(self, what: str, condition: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
        return wait_until(what, condition, deadline_s, check=self.check)

    def places(self) -> int:
        return broker_calls(self.broker_file, "place")

    def new_orders_and_amends(self) -> int:
        return (rows(self.broker_file, "SELECT count(*) FROM calls WHERE action IN ('place', 'update_price')")
                or [(0,)])[0][0]

    def hold_refusals(self) -> float:
        """Intents the risk process now running refused as hold_fire, from its heartbeat's counters."""
        try:
            entry = self.stack.status()["services"].get(str(ServiceName.RISK))
        except (ControlUnreachable, StackError):
            return 0
        if entry is None:
            return 0
        return sum(value for name, labels, value in entry["metrics"]
                   if name == "risk_reject_total" and labels.get("reason") == "hold_fire")

    def trade(self, places: int) -> None:
        at_least = self.places() + places
        self.wait(f"{places} orders placed, fills, and orders resting at the broker", lambda: (
            self.places() >= at_least and broker_positions(self.broker_file) and working_at_broker(self.broker_file)))

    def freeze(self) -> None:
        """No new order and no tick: nothing moves but the answers to what is already at the broker."""
        assert ctl(self.stack.stack_file, "hold").exit_code == 0
        self.wait("risk holds fire", lambda: (risk := risk_dump(self.stack)) and risk["hold_fire"])
        if ServiceName.FEED in self.stack.processes:
            self.stop_feed()

    def stop_feed(self) -> None:
        """SIGTERM, and out of the stack's processes until start_feed (the launcher's own checks, as in
        restart_service, take any process that has exited for a dead service)."""
        self.stack.stop_service(ServiceName.FEED)
        del self.stack.processes[ServiceName.FEED]

    def settled(self, *, marks_still: bool) -> dict[str, Any]:
        """Risk's dump once risk has caught up, its positions are the journal's fills and the broker's, and (with
        the marks still) two dumps in a row agree and risk's state file was written since the first."""
        last: list[tuple[dict[str, Any], int] | None] = [None]

        def agreed() -> dict[str, Any] | None:
            risk, now_ns = risk_dump(self.stack), time.time_ns()
            if risk is None or risk["replaying"]:
                return None
            fills = journal_fills(journal_reports(self.journal_file))
            if positions(risk) != fills or by_symbol(fills) != broker_positions(self.broker_file):
                return None
            if not marks_still:
                return risk
            previous, last[0] = last[0], (risk, now_ns)
            if previous is None or levels(previous[0]) != levels(risk) or positions(previous[0]) != positions(risk):
                return None
            return risk if self.risk_state.exists() and self.risk_state.stat().st_mtime_ns > previous[1] else None

        return self.wait("the desk settles (risk = journal = broker, dumps alike)", agreed)

    def kill(self) -> tuple[int, float]:
        process = self.stack.processes[self.service]
        os.kill(process.popen.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        self.killed = self.service
        return process.popen.pid, killed_at

    def heard_again(self, old_pid: int) -> bool:
        """Control hears the new process alive and connected (for control: the new control hears everyone)."""
        process = self.stack.processes[self.service]
        if process.popen.pid == old_pid:
            return False
        try:
            status = self.stack.status()
        except (ControlUnreachable, StackError):
            return False
        services = status["services"]
        if self.service == ServiceName.CONTROL:
            return status["control"]["pid"] == process.popen.pid and all(
                ready(services.get(str(name))) for name in self.stack.processes if name != ServiceName.CONTROL)
        entry = services.get(str(self.service))
        return ready(entry) and entry["pid"] == process.popen.pid

    def bring_back(self, old_pid: int) -> None:
        if self.mode == "hand":
            self.stack.processes[self.service].popen.wait(DEADLINE_S)
            self.stack.restart_service(self.service)   # `orderpath run NAME` again, as LocalStack starts it
        self.killed = None
        self.wait(f"{self.service} heard alive again under a new pid", lambda: self.heard_again(old_pid))

    def resume(self, held_actions: int) -> float:
        """The feed started again, the desk still holding fire: the strategies' intents are refused and nothing
        new reaches the broker, whatever was restarted meanwhile. Then `ctl resume`; returns when it was sent."""
        if ServiceName.FEED not in self.stack.processes:
            self.stack.start_feed()
        refused = self.hold_refusals()
        self.wait("risk refuses the strategies' intents while holding fire", lambda: self.hold_refusals() > refused)
        if self.new_orders_and_amends() != held_actions:
            self.result.fail(f"{self.new_orders_and_amends() - held_actions} orders or amends reached the broker "
                             "while holding fire")
        resumed_at = time.monotonic()
        assert ctl(self.stack.stack_file, "resume").exit_code == 0
        return resumed_at

    def run(self) -> CellResult:
        result, stack = self.result, self.stack
        stack.start()
        self.trade(PLACES_BEFORE_FREEZE)
        market_still = self.service != ServiceName.FEED and not self.live
        before: dict[str, Any] | None = None
        if market_still:
            self.freeze()
            before = self.settled(marks_still=True)
        elif not self.live:   # the feed's cell: no new order, the market moving until the feed dies
            assert ctl(stack.stack_file, "hold").exit_code == 0
            before = self.settled(marks_still=False)
        held_actions = self.new_orders_and_amends()

        old_pid, killed_at = self.kill()
        self.bring_back(old_pid)
        result.recovery_s = time.monotonic() - killed_at
        self.check_counted()
        if not market_still:   # the market stops now: for the comparison, and for the hold's check
            self.freeze()
        after = self.settled(marks_still=True)
        if before is None:
            held_actions = self.new_orders_and_amends()
        else:
            result.stormguard = summary(before)
            result.levels_equal = levels_alike(before, after)
            # In the feed's cell the market moved, and orders resting at the broker fill as it moves.
            if market_still and not result.levels_equal:
                result.fail(f"levels or drawdowns changed: {levels(before)} -> {levels(after)}")
            if market_still and positions(after) != positions(before):
                result.fail(f"risk's positions changed: {positions(before)} -> {positions(after)}")

        places = self.places()
        resumed_at = self.resume(held_actions)
        self.wait("a new order placed at the broker", lambda: self.places() > places)
        result.first_order_s = time.monotonic() - resumed_at
        if result.first_order_s > FLOW_WITHIN_S:
            result.fail(f"the first new order took {result.first_order_s:.1f}s, more than {FLOW_WITHIN_S}s")
        self.trade(PLACES_AFTER_RESUME)

        self.freeze()
        with contextlib.suppress(AssertionError):   # not settled within the deadline: the figures below say how
            self.settled(marks_still=True)
        final, fills = risk_dump(stack), journal_fills(journal_reports(self.journal_file))
        at_broker = broker_positions(self.broker_file)
        result.positions_equal = final is not None and positions(final) == fills and by_symbol(fills) == at_broker
        if not result.positions_equal:
            result.fail(f"positions: risk {final and positions(final)}, journal {fills}, broker {at_broker}")
        result.duplicates = len(duplicates_at_broker(self.broker_file))
        if result.duplicates:
            result.fail(f"placed twice at the broker: {duplicates_at_broker(self.broker_file)}")
        with contextlib.suppress(AssertionError):
            self.wait("every order answered", lambda: not unanswered(self.journal_file, self.broker_file), 10.0)
        lost = unanswered(self.journal_file, self.broker_file)
        result.lost = len(lost)
        if lost:
            result.fail(f"orders without an answer: {lost[:10]}")
        if self.mode == "supervised" and self.stack.restarts.totals != {str(self.service): 1}:
            result.fail(f"the launcher restarted {self.stack.restarts.totals}, not {self.service} once")
        return result

    def check_counted(self) -> None:
        """Control counts the restart, as a crash (no final heartbeat); control's own counts start again with it."""
        if self.service == ServiceName.CONTROL:
            return
        entry = self.stack.status()["services"][str(self.service)]
        if entry["restarts"] != 1 or entry["last_restart"]["said_goodbye"] is not False:
            self.result.fail(f"control's status counts {entry['restarts']} restarts of {self.service}, "
                             f"last {entry['last_restart']}")


def run_cell(service: ServiceName, mode: str, folder: Path, *, live: bool = False) -> CellResult:
    """One cell on a stack of its own in `folder`, stopped at the end whatever happened; a failed wait or a
    dead service is a failed cell, with its message. `live`: killed while trading, the market frozen only after
    (levels not compared)."""
    started = time.monotonic()
    cell = Cell(service, mode, folder, live=live)
    try:
        cell.run()
    except (AssertionError, StackError) as exc:
        cell.result.fail(str(exc).splitlines()[0][:300])
    finally:
        cell.stack.stop()
        cell.result.seconds = time.monotonic() - started
    return cell.result


# -- the table


COLUMNS = ("service", "mode", "StormGuard before", "recovery s", "first order s", "levels equal", "positions equal",
           "duplicates", "lost", "cell s", "result")


def _cell_text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(results: list[CellResult]) -> str:
    lines = [[*COLUMNS]]
    for r in results:
        levels_text = _cell_text(r.levels_equal)
        if r.service == ServiceName.FEED and r.levels_equal is False:
            levels_text = "no (market moved)"
        lines.append([str(r.service), r.mode, r.stormguard, _cell_text(r.recovery_s), _cell_text(r.first_order_s),
                      levels_text, _cell_text(r.positions_equal), _cell_text(r.duplicates), _cell_text(r.lost),
                      f"{r.seconds:.0f}", "pass" if r.passed else "FAIL"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines]
    text.insert(1, "-+-".join("-" * width for width in widths))
    for r in results:
        text.extend(f"  {r.service} {r.mode}: {why}" for why in r.failures)
    return "\n".join(text)


def cells(names: list[str]) -> Iterator[tuple[ServiceName, str]]:
    """`service:mode` names, or every cell when none is given."""
    if not names:
        yield from ((service, mode) for service in SERVICES for mode in MODES)
        return
    for name in names:
        service, _, mode = name.partition(":")
        if mode not in MODES:
            raise SystemExit(f"{name}: a cell is SERVICE:MODE, MODE one of {', '.join(MODES)}")
        yield ServiceName(service), mode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.crash_matrix", description=__doc__.splitlines()[0])
    parser.add_argument("cells", nargs="*", help="SERVICE:MODE (MODE: supervised or hand); every cell if none")
    parser.add_argument("--keep", action="store_true", help="keep each cell's folder (configs, logs, journal)")
    parser.add_argument("--live", action="store_true", help="kill while trading, orders in flight; the market is "
                        "frozen only after the restart, so levels are not compared")
    args = parser.parse_args(argv)
    results = []
    started = time.monotonic()
    for service, mode in cells(args.cells):
        folder = Path(tempfile.mkdtemp(prefix=f"crash-{service}-{mode}-"))
        result = run_cell(service, mode, folder, live=args.live)
        print(f"{service} {mode}: {'pass' if result.passed else 'FAIL'} in {result.seconds:.0f}s"
              + (f"; kept {folder}" if args.keep else ""), file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        results.append(result)
    print(table(results))
    print(f"{len(results)} cells in {time.monotonic() - started:.0f}s; first order within {FLOW_WITHIN_S:g}s "
          f"of resume required; drawdowns equal within {DRAWDOWN_TOLERANCE_PP} pp")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
