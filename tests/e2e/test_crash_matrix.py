"""The part of the crash and replace matrix (tests/e2e/crash_matrix.py) that CI runs: the cells that matter most
and are quickest. Risk and the adapter under `orderpath up`'s supervision (the two that hold the desk's state:
its levels and peaks, its orders), control by hand (the operator's hold and forced levels, and the authority
every service follows). The whole matrix, with its table, is `python -m tests.e2e.crash_matrix`.

Each cell is a stack of its own; a failed cell names every invariant that did not hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.enums import ServiceName
from tests.e2e.crash_matrix import run_cell, table

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("service", "mode"), [
    (ServiceName.RISK, "supervised"),
    (ServiceName.ADAPTER, "supervised"),
    (ServiceName.CONTROL, "hand"),
])
def test_a_killed_service_comes_back_with_the_desk_as_it_was(service: ServiceName, mode: str, tmp_path: Path) -> None:
    result = run_cell(service, mode, tmp_path)
    print(f"\n{table([result])}")
    assert result.passed, "\n".join(result.failures)
    assert (result.levels_equal, result.positions_equal, result.duplicates, result.lost) == (True, True, 0, 0)
