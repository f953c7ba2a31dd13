"""LocalStack: the whole stack as separate local processes on loopback, started and stopped in order.

Used by `orderpath up` and by the e2e tests. Start order: control, adapter, risk, strategy, then
the feed once every other service has sent a heartbeat and has its order sockets connected (so no
tick is published to nobody and no first order is refused for want of a connection).
Stop order is the path's: feed, strategy, risk, adapter, each asked with SIGTERM and awaited, so
their final heartbeats reach control; then control's status is read and control stopped last.

Once the stack is up, `supervise()` (called by `orderpath up` several times a second) starts again any
service that exited on its own, after the backoff of services/supervisor.py's RestartPolicy, and raises
StackError naming the service and its log once it has restarted too often, or at once when it exited
refusing to run (code 2: a config it cannot use); each exit and restart is a
JSON line in the launcher's own log (`launcher.log` beside the services') and a line on stderr. A
service stopped on purpose (stop_service, restart_service) is not restarted. A service that dies while
the stack starts fails the start at once: that is a config or an environment problem, not a crash.

`start()` continues the desk: the adapter's journal, the simulated broker's state file (if configured)
and control's state stay where they are, as a real broker keeps yesterday's positions; `start(fresh=True)`
(`orderpath up --fresh`, `make up`) moves them to var/archive/<UTC time>/ first, for a clean demo slate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from contracts.enums import ControlVerb, ServiceName
from services.adapter.session import archive_session, under_var
from services.control.client import ControlUnreachable, OpsClient
from services.runtime.clock import Clock, SystemClock
from services.runtime.config.stack import STACK_FILE_ENV, load_stack
from services.runtime.curve import ensure_keys
from services.runtime.instance import INSTANCE_ENV
from services.supervisor import GiveUp, RestartDue, RestartPolicy

START_ORDER = (ServiceName.CONTROL, ServiceName.ADAPTER, ServiceName.RISK, ServiceName.STRATEGY)
STOP_ORDER = (ServiceName.FEED, ServiceName.STRATEGY, ServiceName.RISK, ServiceName.ADAPTER)
STATUS_POLL_S = 0.05
REFUSED_EXIT_CODE = 2
"""A service that exits with this code refused to run (services/cli.py's `run` on a config it cannot use, a
strict replay on a malformed line): starting it again cannot help, so the stack stops at once."""


def _ready(entry: dict[str, Any] | None) -> bool:
    """Alive, and every order socket it sends on connected to its peer."""
    return entry is not None and entry["state"] == "alive" and all(
        value == 1 for name, _, value in entry["metrics"] if name == "peer_connected"
    )


class StackError(RuntimeError):
    """The stack could not start or a service died; the message names the service and its log."""


@dataclass
class ServiceProcess:
    name: ServiceName
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: TextIO


def _exit_description(code: int) -> str:
    """How a process ended, as an operator reads it: `code 3`, or `SIGKILL` for a negative code."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


class LocalStack:
    def __init__(self, stack_file: Path, *, env: dict[str, str] | None = None, log_dir: Path | None = None,
                 ready_timeout_s: float = 30.0, clock: Clock | None = None) -> None:
        self.stack_file = stack_file.resolve()
        # One process of each service, each under its service's name: an instance name from the caller's
        # shell would name them all alike.
        inherited = {key: value for key, value in os.environ.items() if key != INSTANCE_ENV}
        self.env = {**inherited, **(env or {}), STACK_FILE_ENV: str(self.stack_file), "SJ_LOG_PATH": os.devnull}
        self.config = load_stack(self.stack_file, environ=self.env)
        # First start: the operator plane's keys, before anything connects with them (services/runtime/curve.py).
        self.keys_created = ensure_keys(self.config.curve)
        self.log_dir = log_dir or self.config.var_dir / "log"
        self.ready_timeout_s = ready_timeout_s
        # It only reads control's status, so with curve.ops it connects with the services' key, which may not
        # run operator verbs, and needs no operator's private key.
        self.ops = OpsClient.for_stack(self.config, timeout_ms=1000, as_service=True)
        self.processes: dict[ServiceName, ServiceProcess] = {}
        self.final_status: dict[str, Any] | None = None
        self.clock: Clock = clock or SystemClock()
        self.restarts = RestartPolicy(self.clock, self.config.supervision)
        self._restart_due: dict[ServiceName, RestartDue] = {}
        self._stopped: set[ServiceName] = set()
        """Stopped on purpose: not restarted."""
        self.launcher_log = self.log_dir / "launcher.log"

    def _spawn(self, name: ServiceName, log_mode: str = "w") -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open(log_mode, encoding="utf-8")
        popen = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", str(name)],
            env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes[name] = ServiceProcess(name, popen, log_path, log_file)
        self._stopped.discard(name)
        self._restart_due.pop(name, None)

    def _record(self, event: str, message: str | None, **fields: object) -> None:
        """One JSON line in the launcher's log, like a service's, and `message` said on stderr (None: the caller
        raises it)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        line = {"timestamp": datetime.now(UTC).isoformat(), "level": "warning", "service": "launcher",
                "event": event, **fields}
        with self.launcher_log.open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        if message is not None:
            print(f"orderpath: {message}", file=sys.stderr)

    def status(self) -> dict[str, Any]:
        reply = self.ops.request(ControlVerb.STATUS)
        if not reply.ok:
            raise StackError(f"control refused status: {reply.error}")
        return reply.body

    def check_alive(self) -> None:
        """Raise StackError naming any service that has exited on its own."""
        for proc in self.processes.values():
            code = proc.popen.poll()
            if code is not None:
                raise StackError(f"{proc.name} exited with code {code}; see {proc.log_path}")

    def supervise(self) -> None:
        """Start again, once its backoff has passed, every service that exited on its own; raise StackError
        naming the service and its log once one would restart more often than the policy allows."""
        now_ns = self.clock.mono_ns()
        for name, proc in list(self.processes.items()):
            if name in self._stopped:
                continue
            due = self._restart_due.get(name)
            if due is not None:
                if now_ns >= due.due_mono_ns:
                    self._spawn(name, log_mode="a")
                    self._record("service_restarted", f"{name} restarted (pid {self.processes[name].popen.pid}, "
                                 f"restart {due.attempt} within {self.config.supervision.window_s}s)",
                                 restarted=str(name), old_pid=proc.popen.pid, pid=self.processes[name].popen.pid,
                                 attempt=due.attempt, log=str(proc.log_path))
                continue
            code = proc.popen.poll()
            if code is None:
                continue
            proc.log_file.close()
            if code == REFUSED_EXIT_CODE:
                message = (f"{name} exited with code {code}: it refuses to run, so it is not restarted; stopping the "
                           f"stack; see {proc.log_path}")
                self._record("service_refused", None, exited=str(name), pid=proc.popen.pid, exit_code=code,
                             log=str(proc.log_path))
                raise StackError(message)
            decision = self.restarts.exited(name)
            if isinstance(decision, GiveUp):
                message = (f"{name} exited ({_exit_description(code)}) after {decision.restarts} restarts within "
                           f"{decision.window_ns // 1_000_000_000}s; stopping the stack; see {proc.log_path}")
                self._record("service_restart_limit", None, exited=str(name), pid=proc.popen.pid,
                             exit_code=code, restarts=decision.restarts, log=str(proc.log_path))
                raise StackError(message)
            self._restart_due[name] = decision
            self._record("service_exited", f"{name} exited ({_exit_description(code)}); restarting in "
                         f"{decision.delay_ns / 1e9:g}s; see {proc.log_path}", exited=str(name), pid=proc.popen.pid,
                         exit_code=code, restart_in_s=decision.delay_ns / 1e9, attempt=decision.attempt,
                         log=str(proc.log_path))

    def _wait_for(self, names: tuple[ServiceName, ...], pid: int | None = None) -> None:
        """Until control hears each of `names` alive and connected (from process `pid`, if given)."""
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            self.check_alive()
            try:
                services = self.status()["services"]
                if all(_ready(services.get(n)) and (pid is None or services[n]["pid"] == pid) for n in names):
                    return
            except ControlUnreachable:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"services {', '.join(names)} not all alive after {self.ready_timeout_s}s; "
                                 f"see the logs in {self.log_dir}")
            time.sleep(STATUS_POLL_S)

    def start(self, *, with_feed: bool = True, fresh: bool = False) -> None:
        """Start the stack on the desk as the last run left it; `fresh`: put the last session aside first (the
        adapter's journal, the simulated broker's state file, control's and risk's state) and start from a clean
        slate."""
        if fresh:
            archived = archive_session(self.config, also=[under_var(self.config, self.config.control.state_file),
                                                          under_var(self.config, self.config.risk.state_file)])
            if archived is not None:
                print(f"previous session moved to {archived}", file=sys.stderr)
        try:
            for name in START_ORDER:
                self._spawn(name)
            self._wait_for(START_ORDER)
            if with_feed:
                self.start_feed()
        except BaseException:
            self.stop()
            raise

    def start_feed(self) -> None:
        """The feed last: what it publishes first must find every subscriber connected."""
        self._spawn(ServiceName.FEED)
        self._wait_for((ServiceName.FEED,))

    def stop_service(self, name: ServiceName, timeout_s: float = 10.0) -> int | None:
        proc = self.processes.get(name)
        if proc is None:
            return None
        self._stopped.add(name)
        self._restart_due.pop(name, None)
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        proc.log_file.close()
        return proc.popen.returncode

    def restart_service(self, name: ServiceName) -> int | None:
        """Stop one service (SIGTERM) and start it again while the others keep running, as
        `docker compose up -d --no-deps NAME` would; returns the old process's exit code once
        the new one is alive again (heartbeating and connected)."""
        code = self.stop_service(name)
        self._spawn(name, log_mode="a")
        self._wait_for((name,), pid=self.processes[name].popen.pid)
        return code

    def stop(self) -> dict[ServiceName, int | None]:
        """Stop everything in path order; keeps control's last status in `final_status`."""
        codes = {name: self.stop_service(name) for name in STOP_ORDER}
        if ServiceName.CONTROL in self.processes and self.processes[ServiceName.CONTROL].popen.poll() is None:
            try:
                self.final_status = self.status()
            except (ControlUnreachable, StackError):
                self.final_status = None
        codes[ServiceName.CONTROL] = self.stop_service(ServiceName.CONTROL)
        return codes

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
