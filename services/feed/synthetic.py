"""A seeded synthetic market for the feed: plausible books on the real tick ladder, no broker needed.

It sits where a live quote stream would, at the head of the path: the feed service asks it for
one MarketEvent at a time and publishes it on md. Books random-walk on the TWSE ladder (futures on
their contract tick) and never touch the daily limits, so everything downstream sees legal prices.
The same seed gives the same stream, which makes a run reproducible. RateSchedule says how many
events are due at a steady rate, for a loop whose timers fire late.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from contracts.market_rules import round_to_tick, ticks_away
from contracts.messages import InstrumentRef, MarketEvent

BOOK_DEPTH = 5
MAX_LEVEL_QTY = 50
MAX_TRADE_QTY = 10
TRADE_PROBABILITY = 0.5
WIDE_SPREAD_PROBABILITY = 0.2
MAX_SPREAD_TICKS = 2
WALK_STEPS_TICKS = (-1, 0, 0, 1)

NS_PER_S = 1_000_000_000


@dataclass(slots=True)
class _SymbolWalk:
    """One symbol's state: where its best bid is, how far it may go, and its trades so far."""

    instrument: InstrumentRef
    lowest_bid_e4: int
    highest_bid_e4: int
    bid_e4: int
    last_price_e4: int = 0
    total_volume: int = 0


def _walk_for(instrument: InstrumentRef) -> _SymbolWalk:
    limit_down_e4 = round_to_tick(instrument, instrument.limit_down_e4, up=True)
    limit_up_e4 = round_to_tick(instrument, instrument.limit_up_e4, up=False)
    # The deepest bid sits BOOK_DEPTH - 1 ticks under the best and the deepest ask up to
    # MAX_SPREAD_TICKS + BOOK_DEPTH - 1 ticks over it; one more tick keeps both strictly inside.
    lowest_bid_e4 = ticks_away(instrument, limit_down_e4, BOOK_DEPTH)
    highest_bid_e4 = ticks_away(instrument, limit_up_e4, -(MAX_SPREAD_TICKS + BOOK_DEPTH))
    if lowest_bid_e4 > highest_bid_e4:
        raise ValueError(
            f"{instrument.symbol}: daily limits are too narrow for a {BOOK_DEPTH}-level synthetic book"
        )
    start_e4 = min(max(instrument.reference_e4, lowest_bid_e4), highest_bid_e4)
    return _SymbolWalk(instrument, lowest_bid_e4, highest_bid_e4, start_e4)


def _ladder(instrument: InstrumentRef, best_e4: int, direction: int) -> list[int]:
    prices = [best_e4]
    for _ in range(BOOK_DEPTH - 1):
        prices.append(ticks_away(instrument, prices[-1], direction))
    return prices


class SyntheticMarket:
    """Round-robin books for the given symbols, each starting at its reference price."""

    def __init__(self, instruments: dict[str, InstrumentRef], symbols: list[str], seed: int) -> None:
        unique_symbols = list(dict.fromkeys(symbols))
        if not unique_symbols:
            raise ValueError("a synthetic market needs at least one symbol")
        unknown = [symbol for symbol in unique_symbols if symbol not in instruments]
        if unknown:
            raise ValueError(f"no instrument for synthetic symbol(s): {', '.join(unknown)}")
        self._rng = random.Random(seed)
        self._walks = [_walk_for(instruments[symbol]) for symbol in unique_symbols]
        self._turn = 0

    def next_event(self, seq: int, exch_ts_ns: int, ingest_ts_ns: int) -> MarketEvent:
        """The next symbol's book: five legal levels a side, never crossed, inside the daily limits."""
        walk = self._walks[self._turn]
        self._turn = (self._turn + 1) % len(self._walks)
        rng = self._rng
        instrument = walk.instrument
        spread_ticks = MAX_SPREAD_TICKS if rng.random() < WIDE_SPREAD_PROBABILITY else 1
        ask_e4 = ticks_away(instrument, walk.bid_e4, spread_ticks)
        last_qty = 0
        if rng.random() < TRADE_PROBABILITY:
            walk.last_price_e4 = rng.choice((walk.bid_e4, ask_e4))
            last_qty = rng.randint(1, MAX_TRADE_QTY)
            walk.total_volume += last_qty
        event = MarketEvent(
            symbol=instrument.symbol,
            seq=seq,
            exch_ts_ns=exch_ts_ns,
            ingest_ts_ns=ingest_ts_ns,
            bid_prices_e4=_ladder(instrument, walk.bid_e4, -1),
            bid_qtys=[rng.randint(1, MAX_LEVEL_QTY) for _ in range(BOOK_DEPTH)],
            ask_prices_e4=_ladder(instrument, ask_e4, 1),
            ask_qtys=[rng.randint(1, MAX_LEVEL_QTY) for _ in range(BOOK_DEPTH)],
            last_price_e4=walk.last_price_e4,
            last_qty=last_qty,
            total_volume=walk.total_volume,
        )
        stepped_e4 = ticks_away(instrument, walk.bid_e4, rng.choice(WALK_STEPS_TICKS))
        walk.bid_e4 = min(max(stepped_e4, walk.lowest_bid_e4), walk.highest_bid_e4)
        return event


class RateSchedule:
    """How many events are due at `rate_hz` since `start_mono_ns`, counting those a late timer missed.

    A backlog older than one second is dropped rather than sent: a synthetic book has no value
    late, and a process resumed after a stop should not flood its subscribers' queues.
    """

    def __init__(self, rate_hz: float, start_mono_ns: int) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        # Exact rational arithmetic: a float product of nanoseconds and rate drifts over a long run.
        self._rate_hz = Fraction(rate_hz)
        self._start_mono_ns = start_mono_ns
        self._max_backlog = max(1, int(self._rate_hz))
        self._taken = 0

    def take_due(self, now_mono_ns: int) -> int:
        """The number of events due by `now_mono_ns` and not yet taken; they count as taken."""
        elapsed_ns = max(0, now_mono_ns - self._start_mono_ns)
        due_total = elapsed_ns * self._rate_hz.numerator // (self._rate_hz.denominator * NS_PER_S)
        self._taken = max(self._taken, due_total - self._max_backlog)
        due = due_total - self._taken
        self._taken = due_total
        return due
