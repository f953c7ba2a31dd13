"""Per-order limit checks, scalar against numpy: where a batch starts to pay.

    python -m bench.risk_checks

The scalar chain is what risk runs for one intent (`PriceBandValidator.check_price` then
`SizeNotionalValidator.check_order`: instrument, daily limits, tick ladder, fresh book, band, qty,
notional); the batch is services.risk.batch.BatchChecker over the same intents, array building
included. Intents all pass (the common case), on five instruments of config/instruments.yaml with
fresh books. Prints the p50 cost per intent of each, the numpy cost at several batch sizes, and the
crossover: the smallest batch size from which numpy stays cheaper per intent. Asserts nothing.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from contracts.enums import IntentAction, PriceType, Side
from contracts.market_rules import is_on_tick, ticks_away
from contracts.messages import InstrumentRef, MarketEvent, OrderIntent
from services.risk.batch import BatchChecker
from services.risk.book_cache import BookCache
from services.risk.positions import PositionBook
from services.risk.validators.price_band import PriceBandValidator
from services.risk.validators.size_notional import SizeNotionalValidator
from services.runtime.clock import SystemClock
from services.runtime.config.instruments import load_instruments
from services.runtime.config.strategy_limits import BookChecks, GlobalLimits, OrderLimits

REPO = Path(__file__).resolve().parents[1]
PRINTED_SIZES = (1, 8, 16, 32, 64, 128, 1000)
SCAN_SIZES = (1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 256, 1000)
POOL = 4000
SCALAR_GROUP = 100
SCALAR_SAMPLES = 400
INTENTS_PER_SIZE = 40_000
MIN_ROUNDS = 200


def book_event(instrument: InstrumentRef, clock: SystemClock) -> MarketEvent:
    bid = instrument.reference_e4
    ask = ticks_away(instrument, bid, 1)
    return MarketEvent(
        symbol=instrument.symbol, seq=1, exch_ts_ns=clock.wall_ns(), ingest_ts_ns=clock.mono_ns(),
        bid_prices_e4=[bid], bid_qtys=[10], ask_prices_e4=[ask], ask_qtys=[10], last_price_e4=bid, last_qty=1,
    )


def passing_intents(instruments: dict[str, InstrumentRef], rng: random.Random) -> list[OrderIntent]:
    """Limit orders a tick or two either side of the reference (inside the band, on the ladder, under the caps)."""
    intents = []
    symbols = sorted(instruments)
    for n in range(POOL):
        instrument = instruments[rng.choice(symbols)]
        price = ticks_away(instrument, instrument.reference_e4, rng.randint(-2, 2))
        assert is_on_tick(instrument, price)
        intents.append(OrderIntent(
            intent_id=f"b.{n}", strategy_id=rng.choice(("mm1", "mm2")), seq=n, action=IntentAction.NEW,
            client_order_id=f"b.{n}", symbol=instrument.symbol, side=rng.choice((Side.BUY, Side.SELL)),
            qty=rng.randint(1, 3),
            price_e4=price, price_type=PriceType.LMT, created_ts_ns=0, ingest_ts_ns=0, deadline_ns=1 << 62,
        ))
    return intents


def p50_scalar_us(chain: Callable[[OrderIntent], object], intents: list[OrderIntent]) -> float:
    samples = []
    for s in range(SCALAR_SAMPLES):
        start = (s * SCALAR_GROUP) % (len(intents) - SCALAR_GROUP)
        group = intents[start:start + SCALAR_GROUP]
        began = time.perf_counter_ns()
        for intent in group:
            chain(intent)
        samples.append((time.perf_counter_ns() - began) / SCALAR_GROUP / 1000)
    return statistics.median(samples)


class SizeFigures(NamedTuple):
    scalar_us: float  # p50 per intent, the same intents one at a time
    numpy_us: float  # p50 per intent, the batch
    ratio: float  # p50 of numpy / scalar, round by round


def figures_at(
    size: int, chain: Callable[[OrderIntent], object], checker: BatchChecker, intents: list[OrderIntent]
) -> SizeFigures:
    """Scalar and numpy over the same batches, alternating round by round so both see the same machine."""
    rounds = max(MIN_ROUNDS, INTENTS_PER_SIZE // size)
    scalar, batch, ratios = [], [], []
    for r in range(rounds):
        start = (r * size) % (len(intents) - size + 1)
        group = intents[start:start + size]
        began = time.perf_counter_ns()
        for intent in group:
            chain(intent)
        middle = time.perf_counter_ns()
        checker.check_batch(group)
        ended = time.perf_counter_ns()
        scalar.append((middle - began) / size / 1000)
        batch.append((ended - middle) / size / 1000)
        ratios.append((ended - middle) / (middle - began))
    return SizeFigures(statistics.median(scalar), statistics.median(batch), statistics.median(ratios))


def bare_four_checks_us(instruments: dict[str, InstrumentRef], intents: list[OrderIntent]) -> float:
    """The issue's micro case: limit down/up, tick, qty and notional inline, no validator objects."""

    def four(intent: OrderIntent) -> bool:
        ref = instruments[intent.symbol]
        price = intent.price_e4
        return (ref.limit_down_e4 <= price <= ref.limit_up_e4 and is_on_tick(ref, price)
                and 0 < intent.qty <= 5 and price * intent.qty * ref.unit <= 20_000_000 * 10_000)

    return p50_scalar_us(four, intents)


def main() -> None:
    clock = SystemClock()
    instruments = load_instruments(REPO / "config" / "instruments.yaml")
    book = BookCache(clock)
    for instrument in instruments.values():
        book.on_market(book_event(instrument, clock))
    checks = BookChecks(max_book_age_ms=3_600_000)
    limits = {sid: OrderLimits(max_order_qty=5, max_order_notional_twd=20_000_000) for sid in ("mm1", "mm2")}
    price_band = PriceBandValidator(instruments, book, checks, clock)
    size = SizeNotionalValidator(instruments, limits, GlobalLimits(), PositionBook(), book)
    checker = BatchChecker(instruments, limits, book, checks)
    intents = passing_intents(instruments, random.Random(7))
    scalar_results = [price_band.check_price(i) or size.check_order(i) for i in intents]
    assert scalar_results == checker.check_batch(intents) and not any(scalar_results), "bench intents must pass"

    def scalar_chain(intent: OrderIntent) -> object:
        return price_band.check_price(intent) or size.check_order(intent)

    for _ in range(2):  # warm up caches and numpy's first calls
        p50_scalar_us(scalar_chain, intents)
        for n in (1, 64, 1000):
            figures_at(n, scalar_chain, checker, intents)
    scalar_us = p50_scalar_us(scalar_chain, intents)
    bare_us = bare_four_checks_us(instruments, intents)
    per_size = {n: figures_at(n, scalar_chain, checker, intents) for n in SCAN_SIZES}

    print(f"per-order limit checks, p50 µs per intent (scalar: {SCALAR_SAMPLES} groups of {SCALAR_GROUP} calls; "
          f"batches: scalar and numpy alternating over the same intents, ≥ {MIN_ROUNDS} rounds per size)")
    print(f"  scalar chain (check_price + check_order)    {scalar_us:8.3f} µs")
    print(f"  bare four checks inline (the issue's case)  {bare_us:8.3f} µs")
    print("  batch size   numpy µs/intent   µs/batch   scalar µs/intent   numpy/scalar")
    for n in PRINTED_SIZES:
        f = per_size[n]
        print(f"  {n:>10} {f.numpy_us:17.3f} {f.numpy_us * n:10.1f} {f.scalar_us:18.3f} {f.ratio:14.2f}")
    crossover = next(
        (n for i, n in enumerate(SCAN_SIZES) if all(per_size[m].ratio < 1 for m in SCAN_SIZES[i:])), None
    )
    scanned = ", ".join(f"{n}:{per_size[n].ratio:.2f}" for n in SCAN_SIZES)
    print(f"  numpy/scalar by batch size  {scanned}")
    if crossover is None:
        print("  crossover: none (numpy never cheaper per intent up to 1000)")
    else:
        print(f"  crossover: numpy cheaper per intent from a batch of {crossover}")

if __name__ == "__main__":
    main()
