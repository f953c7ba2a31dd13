"""services.adapter.rate_limiter: the broker's order budget as one sliding window with a reserve for urgent calls."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.adapter.rate_limiter import WINDOW_NS, Priority, RateLimiter
from services.runtime.clock import FakeClock

URGENT, NORMAL = Priority.URGENT, Priority.NORMAL
SECOND = 1_000_000_000


def test_defaults_to_the_ten_second_window() -> None:
    assert WINDOW_NS == 10 * SECOND
    limiter = RateLimiter(FakeClock(), cap=250, reserve=25)
    assert (limiter.cap, limiter.reserve, limiter.window_ns) == (250, 25, WINDOW_NS)
    assert limiter.in_window() == 0


@pytest.mark.parametrize(
    ("cap", "reserve", "window_ns"),
    [(0, 0, SECOND), (-1, 0, SECOND), (5, -1, SECOND), (5, 5, SECOND), (5, 6, SECOND), (5, 1, 0), (5, 1, -1)],
)
def test_refuses_a_nonsense_configuration(cap: int, reserve: int, window_ns: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(FakeClock(), cap=cap, reserve=reserve, window_ns=window_ns)


def test_normal_calls_stop_at_cap_minus_reserve_and_urgent_ones_at_cap() -> None:
    limiter = RateLimiter(FakeClock(), cap=250, reserve=25)
    assert sum(limiter.acquire(NORMAL) is not None for _ in range(300)) == 225
    assert limiter.in_window() == 225
    assert sum(limiter.acquire(URGENT) is not None for _ in range(30)) == 25
    assert limiter.in_window() == 250
    assert not limiter.acquire(NORMAL)
    assert not limiter.acquire(URGENT)


def test_urgent_calls_may_use_the_normal_slots_too() -> None:
    limiter = RateLimiter(FakeClock(), cap=4, reserve=1)
    assert all(limiter.acquire(URGENT) for _ in range(4))
    assert not limiter.acquire(URGENT)
    assert limiter.in_window() == 4


def test_a_refused_call_is_not_counted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=3, reserve=1, window_ns=SECOND)
    limiter.acquire(NORMAL)
    clock.advance(100)
    limiter.acquire(NORMAL)
    for _ in range(10):
        assert not limiter.acquire(NORMAL)
    assert limiter.in_window() == 2
    assert limiter.next_slot_ns(NORMAL) == clock.mono_ns() - 100 + SECOND  # the refusals did not push it back
    assert limiter.acquire(URGENT)  # and did not take the reserve
    assert limiter.in_window() == 3


def test_a_call_leaves_the_window_exactly_window_ns_after_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=2, reserve=1, window_ns=SECOND)
    start_ns = clock.mono_ns()
    assert limiter.acquire(NORMAL)  # counts for [start, start + 1 s)
    assert not limiter.acquire(NORMAL)
    clock.advance(SECOND - 1)
    assert limiter.in_window() == 1
    assert not limiter.acquire(NORMAL)
    clock.advance(1)  # start + 1 s: the first call is out, so the next one is in a different window
    assert clock.mono_ns() == start_ns + SECOND
    assert limiter.in_window() == 0
    assert limiter.acquire(NORMAL)


def test_calls_at_one_instant_leave_together() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=5, reserve=0, window_ns=SECOND)
    assert all(limiter.acquire(NORMAL) for _ in range(5))
    clock.advance(SECOND - 1)
    assert limiter.in_window() == 5
    clock.advance(1)
    assert limiter.in_window() == 0
    assert all(limiter.acquire(NORMAL) for _ in range(5))
    assert not limiter.acquire(URGENT)


def test_next_slot_is_now_while_there_is_room() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=3, reserve=1, window_ns=SECOND)
    assert limiter.next_slot_ns(NORMAL) == clock.mono_ns()
    limiter.acquire(NORMAL)
    clock.advance(7)
    assert limiter.next_slot_ns(NORMAL) == clock.mono_ns()
    assert limiter.next_slot_ns(URGENT) == clock.mono_ns()


def test_next_slot_waits_for_enough_calls_to_leave() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=4, reserve=2, window_ns=SECOND)
    start_ns = clock.mono_ns()
    for _ in range(4):  # grants at start, +10, +20, +30
        assert limiter.acquire(URGENT)
        clock.advance(10)
    # NORMAL needs the window below 2, so the first three calls must leave; URGENT needs only the first.
    assert limiter.next_slot_ns(NORMAL) == start_ns + 20 + SECOND
    assert limiter.next_slot_ns(URGENT) == start_ns + SECOND
    clock.advance(start_ns + SECOND - 1 - clock.mono_ns())
    assert not limiter.acquire(URGENT)
    clock.advance(1)
    assert limiter.acquire(URGENT)  # takes the slot the first call left
    assert limiter.next_slot_ns(NORMAL) == start_ns + 30 + SECOND  # so NORMAL now waits for the fourth too


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, Priority, bool]]]:
    cap = draw(st.integers(1, 8))
    reserve = draw(st.integers(0, cap - 1))
    calls = draw(
        st.lists(st.tuples(st.integers(0, 400), st.sampled_from(Priority), st.booleans()), min_size=1, max_size=120)
    )
    return cap, reserve, calls


@settings(max_examples=300, deadline=None)
@given(arrivals())
def test_property_never_over_the_cap_and_a_refused_call_fits_exactly_at_its_next_slot(
    case: tuple[int, int, list[tuple[int, Priority, bool]]],
) -> None:
    """Random gaps (zero included) and priorities; a refused call is retried at its next slot when the flag says so."""
    cap, reserve, calls = case
    window_ns = 1_000
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=cap, reserve=reserve, window_ns=window_ns)
    granted: list[tuple[int, Priority]] = []

    def in_window_at(now_ns: int, upto: int | None = None) -> int:
        """The rule stated independently: calls granted in (now - window, now], of the first `upto` grants."""
        return sum(1 for at_ns, _ in granted[:upto] if now_ns - window_ns < at_ns <= now_ns)

    for gap_ns, priority, retry in calls:
        clock.advance(gap_ns)
        now_ns = clock.mono_ns()
        expected = in_window_at(now_ns) < (cap if priority is URGENT else cap - reserve)
        slot_ns = limiter.next_slot_ns(priority)
        assert (slot_ns == now_ns) is expected
        assert limiter.in_window() == in_window_at(now_ns)
        if limiter.acquire(priority):
            assert expected
            granted.append((now_ns, priority))
            continue
        assert not expected
        assert slot_ns > now_ns
        if retry:
            clock.advance(slot_ns - 1 - now_ns)
            assert not limiter.acquire(priority)
            clock.advance(1)
            assert limiter.acquire(priority)
            granted.append((slot_ns, priority))

    for index, (at_ns, priority) in enumerate(granted):  # the fullest windows are the ones that end at a grant
        assert in_window_at(at_ns) <= cap
        if priority is NORMAL:  # the window as this call left it, later calls at the same instant aside
            assert in_window_at(at_ns, upto=index + 1) <= cap - reserve


def test_release_gives_back_exactly_the_grant_of_the_call_that_never_left() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=3, reserve=0, window_ns=10 * SECOND)
    failed = limiter.acquire(NORMAL)
    assert failed is not None
    clock.advance(SECOND)
    assert limiter.acquire(NORMAL)
    assert limiter.acquire(NORMAL)
    limiter.release(failed)
    assert limiter.in_window() == 2
    # The older grant went, not a newer one: a slot frees 10 s after the newer grants, not 9 s.
    clock.advance(9 * SECOND)
    assert limiter.acquire(NORMAL)
    assert not limiter.acquire(NORMAL)


def test_release_of_a_grant_already_out_of_the_window_changes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, cap=3, reserve=0, window_ns=SECOND)
    old = limiter.acquire(NORMAL)
    assert old is not None
    clock.advance(SECOND)
    assert limiter.acquire(NORMAL)
    limiter.release(old)
    assert limiter.in_window() == 1


def test_spend_counts_a_call_made_without_asking_even_over_the_cap() -> None:
    limiter = RateLimiter(FakeClock(), cap=2, reserve=0)
    assert limiter.spend()
    assert limiter.spend()
    assert not limiter.spend()
    assert limiter.in_window() == 3
    assert not limiter.acquire(URGENT)
