"""Fixtures of the Shioaji tests: the order manager over ShioajiBroker over the fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.shioaji.broker_harness import ShioajiHarness


@pytest.fixture
def sh(tmp_path: Path) -> Iterator[ShioajiHarness]:
    harness = ShioajiHarness(tmp_path)
    yield harness
    harness.close()
