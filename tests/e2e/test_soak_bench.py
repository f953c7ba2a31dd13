"""`python -m bench.soak` for a few seconds: it runs and prints every line it promises (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("adapter", "control", "feed", "risk", "strategy")


def test_a_short_soak_prints_minutes_memory_and_the_flat_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--rate", "100", "--minutes", "0.2"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "interpolated linearly within buckets" in out
    assert re.search(r"^bucket upper bounds µs: (\d+ )+\+Inf$", out, re.MULTILINE), out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("minute"))
    assert all(name in header for name in ("p50 µs", "p99 µs", "orders", *SERVICES)), header
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+\d+\s+\d", line)]
    assert len(rows) == 1, out  # 0.2 min: one partial minute
    assert len(rows[0]) == 7 + len(SERVICES) and int(rows[0][3]) > 0, rows  # some orders were placed
    assert "whole run:" in out and "at stop (final heartbeats):" in out
    assert re.search(r"^resident memory MB\s+start\s+end\s+max\s+MB/min from minute 2$", out, re.MULTILINE), out
    for name in SERVICES:  # 0.2 min: no slope
        assert re.search(rf"^  {name}\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+n/a$", out, re.MULTILINE), out
    assert "flat-over-time check" in out and "n/a" in out.split("flat-over-time check")[1]

