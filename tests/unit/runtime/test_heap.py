"""settle_heap: start-up's survivors are frozen out of every later collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.runtime.heap import settle_heap


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
