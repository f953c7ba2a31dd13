"""Batch limit checks with numpy: the stateless per-order part of PriceBand and SizeNotional for many intents.

Plain Python for the single intent; numpy above BATCH_CROSSOVER (40) intents when the service drains
a backlog. Measured on this machine (`python -m bench.risk_checks`, three runs, 2026-12-07: 2 cores,
Python 3.11, numpy 2.4; p50 over intents that all pass, scalar and numpy alternating over the same
intents):

    batch size           1          8          16         32         40         64         128        1000
    numpy / scalar   12.8–14.1  3.27–3.31  1.91–1.93  1.10–1.14  0.95–0.96  0.69–0.70  0.47–0.48  0.28–0.30

against 0.81–0.83 µs for the scalar chain (`check_price` + `check_order`) on one intent. A batch
costs ≈ 17 µs whatever its size (≈ 25 numpy operations on tiny arrays, the book read once per
symbol) plus ≈ 0.25 µs an intent, most of it copying fields out of the msgspec structs into the
arrays. Break-even between 32 and 40 since the scalar chain halved (issue 19; it was about 32 at
1.86 µs scalar). The issue's figures (≈ 0.13 µs scalar, ≈ 5 µs numpy for four checks on one
order) are for bare inline checks on ready arrays (the bare inline checks cost 0.30 µs here);
these checks do more on both sides (the book, the band, the reject details).

What it checks, in the scalar chain's order, stopping at the first failure of each intent: known
instrument, limit price within limit down..limit up, on the tick ladder, a fresh book, within the
band around the book's reference (missing reference → stale_market_data), quantity within
1..max_order_qty, notional within max_order_notional_twd (market orders at limit up). The answer
for each intent is exactly `PriceBandValidator.check_price(intent) or SizeNotionalValidator.check_order(intent)`,
reason and detail. What it leaves to the scalar validators, one intent at a time and in order:
the marketable ticks-through check, positions and gross caps, the order rate, duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from contracts.enums import InstrumentKind, PriceType
from contracts.market_rules import TICK_LADDERS_E4, ladder_tick_e4, notional_e4
from contracts.messages import InstrumentRef, OrderIntent
from contracts.prices import PRICE_SCALE
from services.risk.book_cache import BookCache
from services.risk.validators.base import Rejection
from services.risk.validators.price_band import (
    band_half_width_e4,
    no_book,
    no_reference,
    off_tick,
    old_book,
    outside_band,
    outside_limits,
    unknown_instrument,
)
from services.risk.validators.size_notional import notional_over, order_price_e4, size_outside
from services.runtime.config.strategy_limits import BookChecks, OrderLimits

BATCH_CROSSOVER = 40  # numpy for batches larger than this: measured, see the module docstring

# Inputs beyond ±2⁶² are clamped: every comparison against a real limit keeps its answer, and nothing overflows.
_CLAMP = 1 << 62
# _LADDER_FLOORS (every level floor of every kind's ladder).searchsorted(price, "right") is the rank of a
# price's level (0 below zero); an instrument's row of the tick table holds its ladder's tick per rank, a
# future's (or any instrument with its own tick) that tick at every rank.
_LADDER_FLOORS = np.array(sorted({floor for ladder in TICK_LADDERS_E4.values() for floor, _ in ladder}),
                          dtype=np.int64)
_KIND_TICKS = {
    kind: (ladder[-1][1], *(ladder_tick_e4(ladder, int(floor)) for floor in _LADDER_FLOORS))
    for kind, ladder in TICK_LADDERS_E4.items()
}
_RANKS = len(_LADDER_FLOORS) + 1
_FRESH, _MISSING, _OLD, _NO_REFERENCE, _UNKNOWN = range(5)
# Columns of the per-symbol table: static ones first, then the book's, rewritten for each batch.
_LIMIT_DOWN, _LIMIT_UP, _UNIT, _REFERENCE, _HALF_WIDTH, _BLOCKED, _BLOCKED_LIMIT = range(7)


class _Book(NamedTuple):
    """One symbol's book as the batch sees it: its state, the band around its reference, its age."""

    state: int
    reference_e4: int = 0
    half_width_e4: int = 0
    age_ns: int = 0

    def row(self) -> tuple[int, int, int, int]:
        """Reference, half width, whether every order is refused, whether a limit order is."""
        blocked = self.state in (_MISSING, _OLD, _UNKNOWN)
        return self.reference_e4, self.half_width_e4, int(blocked), int(blocked or self.state == _NO_REFERENCE)


def _ticks_of(ref: InstrumentRef) -> tuple[int, ...]:
    """The tick row of an instrument: its kind's ladder when it has no tick of its own, else its tick throughout."""
    if ref.kind is not InstrumentKind.FUTURE and ref.tick_e4 == 0:
        return _KIND_TICKS[ref.kind]
    return (_clamp(ref.tick_e4),) * _RANKS


def _clamp(value: int) -> int:
    return -_CLAMP if value < -_CLAMP else _CLAMP if value > _CLAMP else value


def _int64(values: list[int]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array([_clamp(v) for v in values], dtype=np.int64)


class BatchChecker:
    """Tables of the instruments and per-order limits, built once; `check_batch` runs many intents at once.

    Holds scratch state (the book columns of its table), so one checker serves one thread, like the
    engine it sits beside.
    """

    def __init__(
        self,
        instruments: dict[str, InstrumentRef],
        limits: dict[str, OrderLimits],
        book: BookCache,
        checks: BookChecks,
    ) -> None:
        self.instruments = instruments
        self.book = book
        self.checks = checks
        self.max_book_age_ns = checks.max_book_age_ms * 1_000_000
        self.band_pct_ratio = checks.band_pct.as_integer_ratio()
        self._reference_e4 = book.mid_e4 if checks.band_reference == "mid" else book.last_e4
        self.symbols = list(instruments)
        self.symbol_index = {symbol: i for i, symbol in enumerate(self.symbols)}
        self.unknown_symbol = len(self.symbols)
        refs = list(instruments.values())
        # One row per symbol and a last one for every unknown symbol.
        self._table = np.zeros((len(refs) + 1, 7), dtype=np.int64)
        self._table[:-1, _LIMIT_DOWN] = [_clamp(r.limit_down_e4) for r in refs]
        self._table[:-1, _LIMIT_UP] = [_clamp(r.limit_up_e4) for r in refs]
        self._table[:, _UNIT] = [_clamp(r.unit) for r in refs] + [1]
        self._limit_up = [r.limit_up_e4 for r in refs] + [0]
        self._ticks = np.array([_ticks_of(r) for r in refs] + [_KIND_TICKS[InstrumentKind.STOCK]], dtype=np.int64)
        self.strategies = list(limits)
        self.strategy_index = {sid: i for i, sid in enumerate(self.strategies)}
        self.unknown_strategy = len(self.strategies)
        self.max_qty = [limits[sid].max_order_qty for sid in self.strategies] + [0]
        self.max_notional_e4 = [int(limits[sid].max_order_notional_twd * PRICE_SCALE) for sid in self.strategies] + [0]
        self._strategy_table = np.array(
            [[_clamp(q) for q in self.max_qty], [_clamp(c) for c in self.max_notional_e4]], dtype=np.int64
        ).T.copy()

    def update_instrument(self, symbol: str) -> None:
        """Take `symbol`'s entry in the instruments dict again (the broker's reference data of the day
        replaced it): the table holds copies, so a batch would otherwise check the old limits."""
        row = self.symbol_index[symbol]
        ref = self.instruments[symbol]
        self._table[row, _LIMIT_DOWN] = _clamp(ref.limit_down_e4)
        self._table[row, _LIMIT_UP] = _clamp(ref.limit_up_e4)
        self._table[row, _UNIT] = _clamp(ref.unit)
        self._limit_up[row] = ref.limit_up_e4
        self._ticks[row] = _ticks_of(ref)

    def check_batch(self, intents: Sequence[OrderIntent]) -> list[Rejection | None]:
        """For each intent, the first of its per-order limit checks that fails, or None."""
        n = len(intents)
        if n == 0:
            return []
        flat: list[int] = []
        extend = flat.extend
        symbol_of, strategy_of, limit_up_of = self.symbol_index.get, self.strategy_index.get, self._limit_up
        unknown_symbol, unknown_strategy, limit_type = self.unknown_symbol, self.unknown_strategy, PriceType.LMT
        for intent in intents:
            s = symbol_of(intent.symbol, unknown_symbol)
            if intent.price_type is limit_type:
                extend((s, strategy_of(intent.strategy_id, unknown_strategy), intent.price_e4, intent.qty, 1))
            else:  # a market order has no price to check and is valued at limit up
                extend((s, strategy_of(intent.strategy_id, unknown_strategy), limit_up_of[s], intent.qty, 0))
        sym, strat, price, qty, limit_order = _int64(flat).reshape(n, 5).T

        books = {s: self._book(s) for s in set(flat[0::5])}
        table = self._table
        for s, book in books.items():
            table[s, _REFERENCE:] = book.row()
        limit_down, limit_up, unit, reference, half_width, blocked, blocked_limit = table[sym].T
        max_qty, max_notional = self._strategy_table[strat].T

        outside = (price < limit_down) | (price > limit_up)
        off = (price <= 0) | (price % self._ticks[sym, _LADDER_FLOORS.searchsorted(price, "right")] != 0)
        band = np.abs(price - reference) > half_width
        bad_qty = (qty <= 0) | (qty > max_qty)
        # notional > cap ⟺ qty > cap // (price × unit) for a positive price × unit: no product can overflow.
        over = qty > max_notional // np.maximum(price * unit, 1)
        fail = blocked | (limit_order & (outside | off | band | blocked_limit)) | bad_qty | over

        results: list[Rejection | None] = [None] * n
        for k in fail.nonzero()[0].tolist():
            limit = intents[k].price_type is limit_type
            results[k] = self._explain(
                intents[k], books[flat[5 * k]], flat[5 * k + 1], outside=limit and bool(outside[k]),
                off=limit and bool(off[k]), band=limit and bool(band[k]), bad_qty=bool(bad_qty[k]),
            )
        return results

    def _book(self, s: int) -> _Book:
        if s == self.unknown_symbol:
            return _Book(_UNKNOWN)
        symbol = self.symbols[s]
        age = self.book.age_ns(symbol)
        if age is None:
            return _Book(_MISSING)
        if age > self.max_book_age_ns:
            return _Book(_OLD, age_ns=age)
        reference = self._reference_e4(symbol)
        if reference is None:
            return _Book(_NO_REFERENCE)
        return _Book(_FRESH, _clamp(reference), _clamp(band_half_width_e4(reference, self.band_pct_ratio)), age)

    def _explain(
        self, intent: OrderIntent, book: _Book, strat: int, *, outside: bool, off: bool, band: bool, bad_qty: bool
    ) -> Rejection:
        """The Rejection the scalar chain gives, from the checks numpy found failing, in the chain's order."""
        if book.state == _UNKNOWN:
            return unknown_instrument(intent.symbol)
        instrument = self.instruments[intent.symbol]
        if outside:
            return outside_limits(instrument, intent.price_e4)
        if off:
            return off_tick(instrument, intent.price_e4)
        if book.state == _MISSING:
            return no_book(intent.symbol)
        if book.state == _OLD:
            return old_book(intent.symbol, book.age_ns, self.checks.max_book_age_ms)
        if intent.price_type is PriceType.LMT and book.state == _NO_REFERENCE:
            return no_reference(intent.symbol, self.checks.band_reference)
        if band:
            return outside_band(intent.price_e4, book.reference_e4, book.half_width_e4, self.checks)
        if bad_qty:
            return size_outside(intent.qty, self.max_qty[strat])
        return notional_over(notional_e4(instrument, order_price_e4(instrument, intent), intent.qty),
                             self.max_notional_e4[strat])


def check_batch(
    intents: Sequence[OrderIntent],
    instruments: dict[str, InstrumentRef],
    limits: dict[str, OrderLimits],
    book: BookCache,
    checks: BookChecks,
) -> list[Rejection | None]:
    """One-off form of `BatchChecker(...).check_batch(intents)`; a service keeps the checker and reuses it."""
    return BatchChecker(instruments, limits, book, checks).check_batch(intents)
