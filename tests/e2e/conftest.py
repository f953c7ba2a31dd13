"""Fixtures more than one e2e module uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.launcher import LocalStack
from tests.e2e.stack_config import EXTERNAL, write_stack_config


@pytest.fixture
def external_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack whose only strategy is EXTERNAL, not yet started; stopped after the test."""
    local = LocalStack(write_stack_config(tmp_path, strategies=[EXTERNAL]))
    try:
        yield local
    finally:
        local.stop()
