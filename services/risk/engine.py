"""RiskEngine: the pre-trade gate. Every intent runs a chain of checks and becomes an approved,
sanitized OrderCommand or a RiskDecision reject; fills drive PnL, PnL and broker usage drive
StormGuard.

The chain, cheapest and most often rejecting first, stopping at the first reject: duplicate id,
deadline, strategy enabled and hold fire, the StormGuard gate (HALT, close-only in STORM, size
scaled in WARM), price band, size and notional, and last the order rate (last so that only
intents that pass everything count against the window). Cancels pass every check: blocking a
cancel is riskier than any breach. The engine acts on the stricter of its own StormGuard view
and control's broadcast; its own escalations apply at once and go to control as proposals, and
only control's broadcast loosens, so a dead control never lifts a HALT.

Plain synchronous code with an injected clock; services/risk/service.py wires it to sockets.
The limits can be replaced atomically (`replace_limits`): the whole chain is rebuilt and swapped
in one assignment, while positions, PnL, books, duplicate memory and StormGuard levels carry
over (the order-rate windows start empty).

The desk's state outlives the process: `saved` is everything a restarted risk needs to be this one
(services/risk/state_file.py) and `restore` takes it back. PnL, drawdown peaks, drawdown levels and
order-rate windows are the trading day's (contracts.market_rules.trading_day): `start_day` begins a
new one, on the clock's rollover or on a report of a later day, while positions and working orders
carry over.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

import msgspec

from contracts.enums import ExecType, IntentAction, PriceType, Reason, StormGuardLevel, TimeInForce, stricter
from contracts.market_rules import DESK_DAY_ROLLOVER, taipei_date, trading_day, trading_day_end_ns
from contracts.messages import (
    GLOBAL_SCOPE,
    AdapterUsage,
    ExecutionReport,
    InstrumentRef,
    MarketEvent,
    OrderCommand,
    OrderIntent,
    RiskDecision,
    StormGuardState,
)
from services.risk.batch import BATCH_CROSSOVER, BatchChecker
from services.risk.book_cache import BookCache
from services.risk.members import CANCEL, HALT, LMT, NEW, NORMAL
from services.risk.pnl import PnlBook
from services.risk.positions import PositionBook
from services.risk.reference_data import RefOutcome, apply_reference
from services.risk.state_file import RiskState
from services.risk.stormguard import StormGuard, Transition
from services.risk.validators.base import Rejection, Validator
from services.risk.validators.disposition import DispositionValidator
from services.risk.validators.duplicate import DuplicateValidator
from services.risk.validators.order_rate import OrderRateValidator
from services.risk.validators.price_band import PriceBandValidator
from services.risk.validators.size_notional import SizeNotionalValidator
from services.risk.validators.staleness import StalenessValidator
from services.risk.validators.stormguard_gate import StormGuardGate
from services.risk.validators.suspension import SuspensionValidator
from services.runtime.clock import Clock
from services.runtime.config.strategy_limits import StrategyLimitsConfig

HALT_CANCEL_TTL_NS = 60_000_000_000


@dataclass(frozen=True)
class Chain:
    """Everything built from one version of the limits; swapped whole."""

    enabled: dict[str, bool]
    before_gate: tuple[Validator, ...]
    price_band: PriceBandValidator
    size: SizeNotionalValidator
    rate: OrderRateValidator
    batch: BatchChecker

    def after_gate(self, intent: OrderIntent) -> Rejection | None:
        return self.price_band.check(intent) or self.size.check(intent) or self.rate.check(intent)

    def after_batch(self, intent: OrderIntent, precheck: Rejection | None) -> Rejection | None:
        """The rest of the chain for an intent whose per-order limits the numpy batch already checked."""
        if precheck is not None:
            return precheck
        if intent.price_type is LMT:
            precheck = self.price_band.check_through(intent)
        if precheck is None and intent.action is NEW:
            precheck = self.size.check_exposure(intent)
        return precheck or self.rate.check(intent)


_UNCHECKED = Rejection(Reason.BAD_MESSAGE, "not checked in a batch")


class RiskEngine:
    def __init__(self, clock: Clock, limits: StrategyLimitsConfig, instruments: dict[str, InstrumentRef],
                 day_rollover: time = DESK_DAY_ROLLOVER) -> None:
        self.clock = clock
        self.day_rollover = day_rollover
        self.trading_day = ""
        self._day_end_ns = 0  # when the next trading day begins (wall clock): one int compare per fill
        own_costs = {entry.id: limits.costs_for(entry.id) for entry in limits.strategies
                     if entry.commission_discount is not None}
        self.pnl = PnlBook(instruments, limits.costs, own_costs)
        self._set_day(trading_day(clock.wall_ns(), day_rollover))
        self._saved_marks: dict[str, int] = {}  # the state file's, for symbols whose book has not come yet
        self.instruments = instruments
        self._file_instruments = dict(instruments)  # what expire_references puts back
        self._reference_days: dict[str, str] = {}  # symbol -> the trading day of the broker ref in force
        self.book = BookCache(clock)
        self.positions = PositionBook()
        self.stormguard = StormGuard(clock, limits.stormguard, _capital(limits),
                                     {entry.id: limits.stormguard_for(entry.id) for entry in limits.strategies})
        self.gate = StormGuardGate(self.positions)
        self.duplicates = DuplicateValidator(limits.global_limits.duplicate_memory, clock)
        self.disposition = DispositionValidator(instruments, clock, self.positions)
        self.control_levels: dict[str, StormGuardLevel] = {}
        self._operator_enabled: dict[str, bool] = {}
        self._levels: dict[str, StormGuardLevel] = {}
        self._rate_multipliers: dict[str, Decimal] = {}
        self.hold_fire = False
        self._cancel_ids = itertools.count(1)
        self.chain = self._build_chain(limits)

    def _build_chain(self, limits: StrategyLimitsConfig) -> Chain:
        order_limits = {entry.id: entry.limits for entry in limits.strategies}
        return Chain(
            enabled={entry.id: entry.enabled for entry in limits.strategies},
            before_gate=(self.duplicates, StalenessValidator(self.clock), SuspensionValidator(self.instruments),
                         self.disposition),
            price_band=PriceBandValidator(self.instruments, self.book, limits.book, self.clock),
            size=SizeNotionalValidator(self.instruments, order_limits, limits.global_limits, self.positions,
                                       self.book),
            rate=OrderRateValidator(self.clock, order_limits, limits.global_limits, self._rate_multiplier),
            batch=BatchChecker(self.instruments, order_limits, self.book, limits.book),
        )

    def replace_limits(self, limits: StrategyLimitsConfig) -> None:
        """Swap in new limits at once; state (positions, PnL, books, StormGuard levels, rate windows) carries over."""
        chain = self._build_chain(limits)
        chain.rate.carry_over(self.chain.rate)
        self.stormguard.set_capital(_capital(limits))
        self.stormguard.scope_configs = {entry.id: limits.stormguard_for(entry.id) for entry in limits.strategies}
        self.chain = chain
        self._forget_levels()

    def set_enabled(self, strategy_id: str, enabled: bool) -> None:
        """An operator's enable/disable, relayed by control; it outlives a limits reload, and a strategy
        not in config stays unknown."""
        if strategy_id in self.chain.enabled:
            self._operator_enabled[strategy_id] = enabled

    def level_for(self, strategy_id: str) -> StormGuardLevel:
        """The stricter of risk's own view and control's broadcast, for this strategy (cached until
        either changes: every intent asks)."""
        level = self._levels.get(strategy_id)
        if level is None:
            level = self.stormguard.effective_level(strategy_id) if strategy_id in self.chain.enabled \
                else self.stormguard.level(GLOBAL_SCOPE)
            level = stricter(level, self.control_levels.get(GLOBAL_SCOPE, StormGuardLevel.NORMAL))
            level = stricter(level, self.control_levels.get(strategy_id, StormGuardLevel.NORMAL))
            if strategy_id in self.chain.enabled:  # unknown ids from the wire are not cached: unbounded
                self._levels[strategy_id] = level
        return level

    def _rate_multiplier(self, scope: str) -> Decimal:
        """StormGuard's order-rate multiplier for a scope, cached with the levels."""
        multiplier = self._rate_multipliers.get(scope)
        if multiplier is None:
            multiplier = self._rate_multipliers[scope] = self.stormguard.rate_multiplier(scope)
        return multiplier

    def _moved(self, transitions: list[Transition]) -> list[Transition]:
        if transitions:
            self._forget_levels()
        return transitions

    def _forget_levels(self) -> None:
        self._levels.clear()
        self._rate_multipliers.clear()

    def evaluate_batch(self, intents: list[OrderIntent]) -> list[OrderCommand | RiskDecision]:
        """Like evaluate for each, in order; a backlog above BATCH_CROSSOVER has its per-order limits
        checked in one numpy pass first (see services/risk/batch.py for the measured crossover)."""
        if len(intents) <= BATCH_CROSSOVER:
            return [self.evaluate(intent) for intent in intents]
        prechecks = self.chain.batch.check_batch(intents)
        return [self.evaluate(intent, precheck) for intent, precheck in zip(intents, prechecks, strict=True)]

    def evaluate(self, intent: OrderIntent, precheck: Rejection | None = _UNCHECKED) -> OrderCommand | RiskDecision:
        """An approved, sanitized command for the adapter, or a reject for the strategy. `precheck` is
        the batch's verdict on the per-order limits, when a batch checked them."""
        level = self.level_for(intent.strategy_id)
        action = intent.action
        if action is CANCEL:
            return self._command(intent, level)
        chain = self.chain
        rejection = None
        for validator in chain.before_gate:
            rejection = validator.check(intent)
            if rejection is not None:
                break
        if rejection is None and action is NEW and intent.client_order_id in self.positions.working:
            rejection = Rejection(Reason.DUPLICATE_INTENT, f"order {intent.client_order_id} is already working")
        if rejection is None:
            rejection = self._operator_gate(chain, intent, level)
        # NORMAL passes everything the StormGuard gate checks: the common case skips it.
        if rejection is None and level is not NORMAL:
            rejection = self.gate.check(intent, level)
            if rejection is None and action is NEW:
                scaled = self.gate.scaled_qty(intent.qty, self.stormguard.size_multiplier(intent.strategy_id))
                if scaled != intent.qty:
                    intent = msgspec.structs.replace(intent, qty=scaled)
                    precheck = _UNCHECKED
        if rejection is None:
            rejection = chain.after_gate(intent) if precheck is _UNCHECKED else chain.after_batch(intent, precheck)
        if rejection is not None:
            return RiskDecision(
                seq=0, intent_id=intent.intent_id, strategy_id=intent.strategy_id,
                client_order_id=intent.client_order_id, action=action, approved=False,
                reason=rejection.reason, detail=rejection.detail, stormguard_state=level, ts_ns=self.clock.wall_ns(),
            )
        command = self._command(intent, level)
        if action is NEW:
            self.positions.on_approved(command)
        self.disposition.on_approved(command)
        return command

    def _operator_gate(self, chain: Chain, intent: OrderIntent, level: StormGuardLevel) -> Rejection | None:
        """The operator's say: a strategy disabled, or hold fire (under HALT it leaves the refusal to the
        StormGuard gate, whose reason says more)."""
        strategy_id = intent.strategy_id
        # An operator's enable/disable wins over the config for a strategy the config knows.
        if strategy_id not in chain.enabled or not self._operator_enabled.get(strategy_id, chain.enabled[strategy_id]):
            return Rejection(Reason.STRATEGY_DISABLED, f"{intent.strategy_id} is not enabled in risk")
        if self.hold_fire and level is not HALT:
            return Rejection(Reason.HOLD_FIRE, "operator hold fire")
        return None

    def _command(self, intent: OrderIntent, level: StormGuardLevel) -> OrderCommand:
        return OrderCommand(
            intent_id=intent.intent_id, strategy_id=intent.strategy_id, action=intent.action,
            client_order_id=intent.client_order_id, symbol=intent.symbol, side=intent.side, qty=intent.qty,
            price_e4=intent.price_e4, price_type=intent.price_type, tif=intent.tif, stormguard_state=level,
            ingest_ts_ns=intent.ingest_ts_ns, approved_mono_ns=self.clock.mono_ns(), deadline_ns=intent.deadline_ns,
        )

    def refused_downstream(self, command: OrderCommand, reason: Reason, detail: str) -> RiskDecision:
        """A reject for an approved command that could not be handed to the adapter."""
        if command.action is IntentAction.NEW:
            self.positions.on_not_sent(command.client_order_id)
        return RiskDecision(
            seq=0, intent_id=command.intent_id, strategy_id=command.strategy_id,
            client_order_id=command.client_order_id, action=command.action, approved=False, reason=reason,
            detail=detail, stormguard_state=command.stormguard_state, ts_ns=self.clock.wall_ns(),
        )

    def on_market(self, event: MarketEvent) -> None:
        self.book.on_market(event)

    def on_reference(self, ref: InstrumentRef) -> tuple[RefOutcome, str]:
        """The broker's reference data of the day for a symbol (services/risk/reference_data.py)."""
        outcome, detail = apply_reference(self.instruments, ref, self.clock.wall_ns())
        if outcome is RefOutcome.APPLIED:
            self._reference_days[ref.symbol] = ref.trading_day
            self.chain.batch.update_instrument(ref.symbol)
        elif outcome is RefOutcome.UNCHANGED and ref.symbol in self._reference_days:
            self._reference_days[ref.symbol] = ref.trading_day  # today's says the same: it does not expire tonight
        return outcome, detail

    def expire_references(self) -> list[str]:
        """Put the file's entry back for every symbol whose broker reference data is for another day
        than today (a risk running past midnight, a feed that stopped publishing); returns those symbols."""
        today = taipei_date(self.clock.wall_ns())
        expired = [symbol for symbol, day in self._reference_days.items() if day != today]
        for symbol in expired:
            del self._reference_days[symbol]
            self.instruments[symbol] = self._file_instruments[symbol]
            self.chain.batch.update_instrument(symbol)
        return expired

    def on_execution(self, report: ExecutionReport) -> list[Transition]:
        """Positions from every report; PnL and StormGuard from fills, at once. A fill of a later trading
        day than the engine's (replayed history that spans a rollover) starts that day first."""
        self.positions.on_execution(report)
        if report.exec_type is not ExecType.FILL:
            return []
        if report.symbol not in self.instruments or report.last_qty <= 0:
            return []
        transitions = self.start_day(trading_day(report.ts_ns, self.day_rollover)) \
            if report.ts_ns >= self._day_end_ns else []
        self.pnl.on_fill(report.strategy_id, report.symbol, report.side, report.last_qty, report.last_price_e4)
        return self._moved(transitions + self._update_pnl((report.strategy_id,)))

    @property
    def replaying(self) -> bool:
        """True while risk applies execution reports from before its start: PnL moves, peaks do not rise
        (the marks between those fills are unknown) and the day does not roll by the clock."""
        return self.stormguard.peaks_frozen

    @replaying.setter
    def replaying(self, replaying: bool) -> None:
        self.stormguard.peaks_frozen = replaying

    def mark_to_market(self) -> list[Transition]:
        """Start the trading day if the clock has passed its rollover (not while replaying), revalue every
        strategy's positions at the book, and let finished dwells step down (on a timer)."""
        now_ns = self.clock.wall_ns()
        transitions = self.start_day(trading_day(now_ns, self.day_rollover)) \
            if now_ns >= self._day_end_ns and not self.replaying else []
        return self._moved(transitions + self._update_pnl(tuple(self.pnl.strategies())) + self.stormguard.refresh())

    def start_day(self, day: str) -> list[Transition]:
        """Begin trading day `day` if it is later than the engine's: positions and working orders carry over;
        PnL starts from each position's mark now, drawdown peaks at 0, StormGuard levels at what the live
        inputs demand (a drawdown HALT ends), order-rate windows empty. [] if `day` is not later."""
        if day <= self.trading_day:
            return []
        previous = self.trading_day
        self._set_day(day)
        self.pnl.start_day(self.mark_e4)
        self.chain.rate.start_day()
        return self._moved(self.stormguard.start_day(f"trading day {day} begins (was {previous})"))

    def _set_day(self, day: str) -> None:
        self.trading_day = day
        self._day_end_ns = trading_day_end_ns(day, self.day_rollover)
        self.pnl.set_day(day)

    def mark_e4(self, symbol: str) -> int | None:
        """The price a position is valued at: the book's mark, else the last one the state file kept."""
        mark = self.book.mark_e4(symbol)
        return mark if mark is not None else self._saved_marks.get(symbol)

    def saved(self, exec_seq: int) -> RiskState:
        """Everything a restarted risk needs to be this one, covering execution reports up to `exec_seq`."""
        positions, working = self.positions.saved()
        marks = {symbol: mark for symbol in sorted(self.pnl.held_symbols())
                 if (mark := self.mark_e4(symbol)) is not None}
        return RiskState(written_ts_ns=self.clock.wall_ns(), trading_day=self.trading_day, exec_seq=exec_seq,
                         positions=positions, working=working, accounts=self.pnl.saved(),
                         scopes=self.stormguard.saved(), marks_e4=marks)

    def learn_day_from_history(self) -> None:
        """Before a replay of the whole journal (no state file): no day is known, so each later day begins with
        its first replayed fill (a past day's PnL is not today's), then by the clock."""
        self._set_day("")

    def restore(self, state: RiskState) -> None:
        """Take a saved state back, on a new engine: positions, working orders, PnL, peaks, levels, marks and
        the trading day they are of (a later day then starts by the clock or the next report)."""
        self.positions.restore(state.positions, state.working)
        self.pnl.restore(state.accounts)
        self.stormguard.restore(state.scopes)
        self._saved_marks = dict(state.marks_e4)
        self._set_day(state.trading_day)
        self._forget_levels()

    def discard_desk_state(self, reason: str) -> list[Transition]:
        """Forget what a restored state brought (positions, working orders, PnL, peaks, own levels, marks): the
        adapter's journal turned out not to be the one it was built on, and the journal is the desk's record.
        The day is today's; its levels are what the live inputs demand."""
        self.positions.clear()
        self.pnl.clear()
        self._saved_marks.clear()
        self._set_day(trading_day(self.clock.wall_ns(), self.day_rollover))
        return self._moved(self.stormguard.start_day(reason))

    def _update_pnl(self, strategy_ids: tuple[str, ...]) -> list[Transition]:
        mark = self.mark_e4
        transitions: list[Transition] = []
        for strategy_id in strategy_ids:
            if strategy_id in self.chain.enabled:
                transitions += self.stormguard.update_pnl(strategy_id, self.pnl.pnl_e4(strategy_id, mark))
        transitions += self.stormguard.update_pnl(GLOBAL_SCOPE, self.pnl.total_pnl_e4(mark))
        return transitions

    def on_usage(self, usage: AdapterUsage) -> list[Transition]:
        transitions = self.stormguard.update_usage(usage.actions_in_window) + self.stormguard.update_breaker(
            usage.breaker_open)
        self._forget_levels()  # broker slow-down changes the rate multiplier without a transition
        return transitions

    def on_stormguard(self, state: StormGuardState) -> None:
        self.control_levels = {GLOBAL_SCOPE: state.global_level, **state.strategy_levels}
        self.hold_fire = state.hold_fire
        self._forget_levels()

    def release(self, scope: str) -> list[Transition]:
        """An operator's release, relayed by control: the only way out of HALT."""
        if scope != GLOBAL_SCOPE and scope not in self.chain.enabled:
            return []
        return self._moved(self.stormguard.release(scope))

    def cancels_for(self, scope: str) -> list[OrderCommand]:
        """CANCEL commands for every working order of a scope that just entered HALT."""
        now = self.clock.mono_ns()
        orders = self.positions.working_orders(None if scope == GLOBAL_SCOPE else scope)
        return [
            OrderCommand(
                intent_id=f"risk.halt.{next(self._cancel_ids)}", strategy_id=order.strategy_id,
                action=IntentAction.CANCEL, client_order_id=client_order_id, symbol=order.symbol, side=order.side,
                qty=order.leaves_qty, price_e4=0, price_type=PriceType.LMT, tif=TimeInForce.ROD,
                stormguard_state=StormGuardLevel.HALT, ingest_ts_ns=now, approved_mono_ns=now,
                deadline_ns=now + HALT_CANCEL_TTL_NS,
            )
            for client_order_id, order in orders.items()
        ]


def _capital(limits: StrategyLimitsConfig) -> dict[str, Decimal]:
    return {GLOBAL_SCOPE: limits.global_limits.capital_twd, **{e.id: e.capital_twd for e in limits.strategies}}
