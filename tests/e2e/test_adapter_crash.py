"""Crash: kill -9 the adapter mid-stream, start it again, and check from the broker's side that no order
was orphaned or placed twice.

The whole stack runs as real processes on loopback with the shipped Quoter (`mm1`), which joins the
touch on three stocks (its quotes fill often), and a Rester (`rest1`) whose bids and asks wait at the
deepest displayed level, so orders are always resting. The adapter's simulated broker keeps its state in a file under
var/ (`sim.state_file`), so its orders, call log and budget outlive the adapter process, as a real
broker outlives its client. While orders rest there the adapter gets SIGKILL; a new adapter process
(the same `orderpath run adapter` command line and environment LocalStack uses) rebuilds its map from
the journal and reconciles it with the broker, and trading goes on. Then the path is stopped in order
(feed, strategy, risk), the test checks that every order the broker has working is an open order in
the adapter's journal, replaces control on its endpoint to send the operator's cancel-all, waits until
the broker has nothing working, and stops the adapter. Last, from the files: no client_order_id placed
twice, nothing working, nothing open in the journal, two runs of the adapter, and the broker's own log
never above its cap in any window.

Every wait is on a condition with a deadline; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from contracts.codec import encode, topic_for
from contracts.enums import TERMINAL_STATUSES, ServiceName
from contracts.messages import ControlCommand
from services.adapter.brokers.sim import SimBroker, max_calls_in_window
from services.control.client import ControlUnreachable
from services.launcher import LocalStack, ServiceProcess
from services.runtime.config.order_adapter import SimBrokerConfig
from tests.e2e.stack_config import QUOTER, REPO, RESTER, write_stack_config
from tests.e2e.waiting import DEADLINE_S, wait_until

pytestmark = pytest.mark.e2e

STATE_FILE = "sim-broker.sqlite"
JOURNAL_FILE = "adapter-journal.sqlite"  # OrderAdapterConfig's default journal.path, under var_dir
ORDER_ADAPTER = {"broker": "sim", "sim": {"ack_latency_us": 1000, "state_file": STATE_FILE}, "soft_cap": 250}
CALLS_BEFORE_KILL = 30
PLACES_AFTER_RESTART = 5
_TERMINAL = tuple(str(status) for status in TERMINAL_STATUSES)

def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """A query on a SQLite file another process is writing (WAL: a reader never blocks the writer)."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        return db.execute(sql).fetchall()


def working_at_broker(state_file: Path) -> set[str]:
    marks = ",".join(f"'{status}'" for status in _TERMINAL)
    return {coid for (coid,) in rows(state_file, f"SELECT client_order_id FROM orders WHERE status NOT IN ({marks})")}


def broker_calls(state_file: Path, action: str | None = None) -> int:
    where = f" WHERE action = '{action}'" if action else ""
    return (rows(state_file, f"SELECT count(*) FROM calls{where}") or [(0,)])[0][0]


def open_in_journal(journal_file: Path) -> set[str]:
    return {coid for (coid,) in rows(journal_file, "SELECT client_order_id FROM orders")}


def log_event(path: Path, event: str) -> dict[str, Any] | None:
    """The first JSON log line of `event` in a service's log, if written yet."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if f'"{event}"' in line:
            entry = json.loads(line)
            if entry.get("event") == event:
                return entry
    return None


def start_adapter(stack: LocalStack, log_name: str) -> ServiceProcess:
    """The adapter as LocalStack starts it (same command line and environment), logging to its own file,
    and registered with the stack so stack.stop() stops it."""
    log_path = stack.log_dir / log_name
    log_file = log_path.open("w", encoding="utf-8")
    popen = subprocess.Popen([sys.executable, "-m", "services.cli", "run", str(ServiceName.ADAPTER)],
                             env=stack.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    process = ServiceProcess(ServiceName.ADAPTER, popen, log_path, log_file)
    stack.processes[ServiceName.ADAPTER] = process
    return process


def still_running(process: ServiceProcess) -> Callable[[], None]:
    def check() -> None:
        if process.popen.poll() is not None:
            raise AssertionError(f"the adapter exited with code {process.popen.returncode}; see {process.log_path}")
    return check


def heartbeat_from(stack: LocalStack, pid: int) -> bool:
    """Control has a live heartbeat from the adapter process `pid` (not from the one before it)."""
    try:
        entry = stack.status()["services"].get(str(ServiceName.ADAPTER))
    except ControlUnreachable:
        return False
    return entry is not None and entry["pid"] == pid and entry["state"] == "alive"


def send_cancel_all(stack: LocalStack) -> None:
    """The operator's cancel-all, as control would broadcast it: control is stopped and the test binds its
    endpoint, waits for the adapter's SUB to reconnect and subscribe, then publishes the command."""
    stack.stop_service(ServiceName.CONTROL)
    context = zmq.Context()
    try:
        publisher = context.socket(zmq.XPUB)
        publisher.setsockopt(zmq.LINGER, 1000)
        publisher.setsockopt(zmq.XPUB_VERBOSE, 1)
        publisher.bind(stack.config.endpoints.control)
        command = ControlCommand(seq=1, verb="cancel_all", ts_ns=time.time_ns())

        def subscribed() -> bool:
            return bool(publisher.poll(100)) and publisher.recv() == b"\x01" + topic_for(command)

        wait_until("the adapter subscribed to commands on the control endpoint", subscribed)
        publisher.send_multipart((topic_for(command), encode(command)))
    finally:
        context.destroy(linger=1000)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(write_stack_config(tmp_path, strategies=[QUOTER, RESTER], order_adapter=ORDER_ADAPTER),
                       env={"PYTHONPATH": str(REPO)})
    try:
        yield local
    finally:
        local.stop()


def test_kill_9_of_the_adapter_orphans_and_duplicates_nothing_at_the_broker(stack: LocalStack) -> None:
    var_dir = Path(stack.config.var_dir)
    state_file, journal_file = var_dir / STATE_FILE, var_dir / JOURNAL_FILE
    stack.start()

    # -- trading, with orders resting at the broker: then SIGKILL, no chance to clean up
    wait_until("the quoter's orders resting at the broker after some trading", lambda: (
        broker_calls(state_file) >= CALLS_BEFORE_KILL and working_at_broker(state_file)),
        check=stack.check_alive)
    first = stack.processes[ServiceName.ADAPTER]
    os.kill(first.popen.pid, signal.SIGKILL)
    assert first.popen.wait(DEADLINE_S) == -signal.SIGKILL
    first.log_file.close()
    working_at_crash = working_at_broker(state_file)
    calls_at_crash, places_at_crash = broker_calls(state_file), broker_calls(state_file, "place")
    assert working_at_crash, "orders were live at the broker when the adapter died"
    assert working_at_crash <= open_in_journal(journal_file), "the journal knew every live order before the crash"

    # -- the adapter again, with the same config: it recovers from the journal and the broker, and trades on
    second = start_adapter(stack, "adapter.restarted.log")
    recovered = wait_until("the restarted adapter logged 'recovered'", lambda: log_event(second.log_path, "recovered"),
                           check=stack.check_alive)
    assert recovered["unknown_at_broker"] == 0, "the broker had orders the adapter's journal did not know"
    assert recovered["from_journal"] >= 1
    wait_until("control hears the restarted adapter", lambda: heartbeat_from(stack, second.popen.pid),
               check=stack.check_alive)
    wait_until("new orders placed after the restart", lambda: broker_calls(state_file, "place") >= places_at_crash
               + PLACES_AFTER_RESTART, check=stack.check_alive)

    # -- stop the path in front of the adapter; then every order still working at the broker is open in the journal
    for name in (ServiceName.FEED, ServiceName.STRATEGY, ServiceName.RISK):
        stack.stop_service(name)
    wait_until("every order working at the broker is an open order in the journal (no orphan)", lambda: (
        working_at_broker(state_file) <= open_in_journal(journal_file)), check=still_running(second))

    # -- the operator's cancel-all leaves nothing working at the broker; then the adapter stops cleanly
    working_before = working_at_broker(state_file)
    assert working_before, "orders rest at the broker before the cancel-all"
    send_cancel_all(stack)
    wait_until("nothing working at the broker after cancel-all", lambda: not working_at_broker(state_file),
               check=still_running(second))
    assert stack.stop_service(ServiceName.ADAPTER) == 0
    print(f"\ncrash: killed with {len(working_at_crash)} orders working after {calls_at_crash} broker calls; "
          f"recovered {recovered['from_journal']} from the journal, {recovered['at_broker']} at the broker, "
          f"{recovered['queried']} queried; {len(working_before)} working before the cancel-all")

    # -- from the files, the broker's side first
    broker = SimBroker(SimBrokerConfig(state_file=state_file), lambda delay_ns, callback: None)
    try:
        places = broker.place_counts()
        assert places and set(places.values()) == {1}, "no client_order_id placed twice"
        assert broker.open_orders() == [], "nothing left working"
        call_times = [mono_ns for mono_ns, _, _ in broker.call_log]
        assert max_calls_in_window(call_times, 10_000_000_000) <= SimBrokerConfig().rate_cap
    finally:
        broker.close()
    assert rows(state_file, "SELECT value FROM meta WHERE key = 'suspended_until_ns'") in ([], [(0,)]), \
        "the broker never suspended the account"
    runs = [run_id for (run_id,) in rows(journal_file, "SELECT run_id FROM runs ORDER BY run_id")]
    assert len(runs) == 2, f"the journal recorded the run before the crash and the one after: {runs}"
    assert open_in_journal(journal_file) == set(), "the journal has no order open"
    assert rows(journal_file, f"SELECT count(*) FROM commands WHERE run_id = {runs[-1]}")[0][0] > 0, \
        "the second run journaled commands of its own"
