"""settle_heap: start-up's survivors are frozen out of every later collection; IdleCollector: the collector's
policy, run when the loop is idle (or inline under a flood)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from services.runtime.heap import FORCED_AFTER, IdleCollector, settle_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_what_start_up_built_is_frozen_and_new_garbage_is_still_collected() -> None:
    built_at_start = [object() for _ in range(10)]
    settle_heap()
    assert gc.get_freeze_count() >= len(built_at_start)

    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Automatic collection off, as a service runs; the thresholds this test sets put back after."""
    thresholds = gc.get_threshold()
    gc.disable()
    gc.collect()
    yield
    gc.set_threshold(*thresholds)
    gc.enable()


def make_cycles(count: int) -> None:
    for _ in range(count):
        cycle: list[object] = []
        cycle.append(cycle)


@pytest.mark.usefixtures("collector_off")
def test_past_the_threshold_one_collection_is_asked_for_and_it_reclaims_cycles() -> None:
    gc.set_threshold(100, 10, 10)
    asked: list[Callable[[], None]] = []
    collector = IdleCollector(asked.append)
    collector.after_turn()
    assert asked == []
    make_cycles(150)
    collector.after_turn()
    collector.after_turn()
    assert len(asked) == 1, "asked once until it runs"
    asked.pop()()
    assert gc.get_count()[0] < 100
    assert gc.collect() == 0, "the idle collection reclaimed the cycles"


@pytest.mark.usefixtures("collector_off")
def test_a_flood_without_idle_moments_collects_inline_at_the_cap() -> None:
    gc.set_threshold(100, 10, 10)
    asked: list[Callable[[], None]] = []
    collector = IdleCollector(asked.append)
    make_cycles(150)
    collector.after_turn()
    make_cycles(FORCED_AFTER * 100)
    collector.after_turn()  # the caller never ran what it was asked: the cap collects here
    assert gc.get_count()[0] < 100
    assert len(asked) == 1


@pytest.mark.usefixtures("collector_off")
def test_the_oldest_generation_past_its_threshold_is_collected() -> None:
    gc.set_threshold(100, 2, 10)
    collector = IdleCollector(lambda callback: None)
    for _ in range(2):
        make_cycles(150)
        collector.collect()  # two young collections: gen1 is now due
    assert gc.get_count()[1] == 2
    collector.collect()
    assert gc.get_count()[1] == 0, "gen1 was collected, which resets its count"
