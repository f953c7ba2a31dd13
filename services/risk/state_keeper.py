"""StateKeeper: risk's desk state across restarts, between the engine and its state file.

At start it gives the engine back the state the last risk saved (services/risk/state_file.py) and says
from which execution report seq to replay the adapter's journal: the one after the last the state
covers (1 without a state). The engine replays with its peaks held (`RiskEngine.replaying`) until the
adapter's newest seq (every AdapterUsage carries it) is applied: the fills after the state are real, but
the marks between them are not known, so they may lower PnL and escalate, never raise a peak. The state
is saved on the service's timer, at a rollover and at stop. Plain code: the service wires it.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from contracts.messages import AdapterUsage, ExecutionReport
from services.risk.engine import RiskEngine
from services.risk.state_file import StateFileError, load_state, save_state


class StateKeeper:
    def __init__(self, engine: RiskEngine, path: Path, log: structlog.stdlib.BoundLogger) -> None:
        self.engine = engine
        self.path = path
        self.log = log
        self.exec_seq = 0
        """The seq of the last execution report the engine applied (or the restored state covers)."""

    def start(self) -> int:
        """Restore the saved state into the engine (a fresh one) and start replaying; returns the first
        execution report seq to replay from the adapter's journal."""
        try:
            state = load_state(self.path)
        except StateFileError as exc:
            kept = self.path.with_name(f"{self.path.name}.unreadable-{self.engine.clock.wall_ns()}")
            self.path.replace(kept)
            self.log.error("risk_state_unreadable", error=str(exc), kept=str(kept),
                           reason="replaying the whole journal instead: drawdown peaks start from 0")
            state = None
        self.engine.replaying = True
        if state is None:
            self.engine.learn_day_from_history()
            self.log.warning("risk_state_missing", path=str(self.path),
                             reason="replaying the whole journal: positions and working orders come back, PnL "
                                    "per trading day from the fills, drawdown peaks from 0")
            return 1
        self.engine.restore(state)
        self.exec_seq = state.exec_seq
        self.log.warning("risk_state_restored", path=str(self.path), trading_day=state.trading_day,
                         exec_seq=state.exec_seq, age_s=(self.engine.clock.wall_ns() - state.written_ts_ns) / 1e9,
                         positions=len(state.positions), working=len(state.working),
                         levels={scope.scope: scope.level for scope in state.scopes},
                         peaks_e4={scope.scope: scope.peak_pnl_e4 for scope in state.scopes})
        return state.exec_seq + 1

    def on_report(self, report: ExecutionReport) -> None:
        """A report the engine just applied."""
        self.exec_seq = report.seq

    def on_usage(self, usage: AdapterUsage) -> None:
        """The adapter's newest seq: once everything up to it is applied the replay is over (the engine's
        peaks follow the marks again, the day rolls by the clock)."""
        if not self.engine.replaying or usage.exec_seq > self.exec_seq:
            return
        self.engine.replaying = False
        if usage.exec_seq < self.exec_seq:
            self.log.error("risk_state_ahead_of_journal", exec_seq=self.exec_seq, adapter_exec_seq=usage.exec_seq,
                           reason="the adapter's journal is not the one risk's state was built on (replaced or "
                                  "archived): positions stay as saved; check them against the broker")
        self.log.info("risk_replay_done", exec_seq=self.exec_seq, trading_day=self.engine.trading_day)

    def save(self) -> None:
        try:
            save_state(self.path, self.engine.saved(self.exec_seq))
        except OSError as exc:
            self.log.error("risk_state_not_saved", path=str(self.path), error=str(exc))
