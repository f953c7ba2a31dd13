"""StateKeeper: risk's desk state across restarts, between the engine and its state file.

At start it gives the engine back the state the last risk saved (services/risk/state_file.py) and says
from which execution report seq to replay the adapter's journal: the one after the last the state
covers (1 without a state). The engine replays with its peaks held (`RiskEngine.replaying`) until the
adapter's newest seq (every AdapterUsage carries it) is applied: the fills after the state are real, but
the marks between them are not known, so they may lower PnL and escalate, never raise a peak. An adapter
whose journal ends before the state's seq has another journal (a new session): the state is put aside and
the journal, the desk's record, wins. The state is saved on the service's timer, at a rollover and at stop.
Plain code: the service wires it.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from contracts.messages import AdapterUsage, ExecutionReport
from services.risk.engine import RiskEngine
from services.risk.state_file import StateFileError, load_state, save_state
from services.risk.stormguard import Transition


class StateKeeper:
    def __init__(self, engine: RiskEngine, path: Path, log: structlog.stdlib.BoundLogger) -> None:
        self.engine = engine
        self.path = path
        self.log = log
        self.exec_seq = 0
        """The seq of the last execution report the engine applied (or the restored state covers)."""
        self.restored_seq = 0
        """The seq the restored state covered (0: none, or discarded)."""

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
        self.exec_seq = self.restored_seq = state.exec_seq
        self.log.warning("risk_state_restored", path=str(self.path), trading_day=state.trading_day,
                         exec_seq=state.exec_seq, age_s=(self.engine.clock.wall_ns() - state.written_ts_ns) / 1e9,
                         positions=len(state.positions), working=len(state.working),
                         levels={scope.scope: scope.level for scope in state.scopes},
                         peaks_e4={scope.scope: scope.peak_pnl_e4 for scope in state.scopes})
        return state.exec_seq + 1

    def on_report(self, report: ExecutionReport) -> list[Transition]:
        """A report, before the engine applies it; the transitions if it showed the state is not this journal's."""
        transitions = self._discard_if_behind(report.seq - 1) if report.seq <= self.exec_seq else []
        self.exec_seq = report.seq
        return transitions

    def on_usage(self, usage: AdapterUsage) -> list[Transition]:
        """The adapter's newest seq: once everything up to it is applied the replay is over (the engine's
        peaks follow the marks again, the day rolls by the clock)."""
        if not self.engine.replaying or usage.exec_seq > self.exec_seq:
            return []
        transitions = self._discard_if_behind(usage.exec_seq) if usage.exec_seq < self.exec_seq else []
        self.engine.replaying = False
        self.log.info("risk_replay_done", exec_seq=self.exec_seq, trading_day=self.engine.trading_day)
        return transitions

    def _discard_if_behind(self, journal_seq: int) -> list[Transition]:
        """The adapter's journal ends before the state's seq: it is another journal (a new session, the last
        one archived). The journal is the desk's record, so the state goes (kept aside) and risk starts from
        what the journal says; only reports the stream brings from here on are replayed."""
        if not self.engine.replaying or self.restored_seq == 0:
            return []
        kept = self.path.with_name(f"{self.path.name}.discarded-{self.engine.clock.wall_ns()}")
        if self.path.exists():
            self.path.replace(kept)
        self.log.error("risk_state_discarded", exec_seq=self.restored_seq, journal_seq=journal_seq, kept=str(kept),
                       positions=[[row.strategy_id, row.symbol, row.position] for row in self.engine.positions.rows()
                                  if row.position],
                       reason="the adapter's journal ends before the state's last report: not the journal the "
                              "state was built on; starting from the journal (check positions against the broker)")
        self.restored_seq = 0
        self.exec_seq = journal_seq
        return self.engine.discard_desk_state("risk state discarded: not the adapter's journal")

    def save(self, *, durable: bool = True) -> None:
        """Write the engine's state; `durable` (at stop, at a rollover) fsyncs it, the timer's writes do not."""
        try:
            save_state(self.path, self.engine.saved(self.exec_seq), durable=durable)
        except OSError as exc:
            self.log.error("risk_state_not_saved", path=str(self.path), error=str(exc))
